"""The API's views, one module per area; each view makes one service call."""
