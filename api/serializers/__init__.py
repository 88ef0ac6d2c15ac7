"""Serializers: input validation and the shapes of answers (money per `money.py`)."""
