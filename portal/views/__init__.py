"""The customers' pages: thin views, every write a service call (see the modules)."""
