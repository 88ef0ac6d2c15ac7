from billing_site.exceptions import InvalidInput


class InvalidModeChange(InvalidInput):
    code = "invalid_mode_change"
