"""The one exception the report raises for bad input."""


class ReportError(ValueError):
    """Bad input to the report (missing folder, malformed run, unknown metric or agent).

    The message is one line that names the bad value and, where there are any, the valid ones.
    """
