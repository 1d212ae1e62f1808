"""Log lines carry the structured fields a component passes with `extra=`."""

import logging

from smart_sre.commands.logfmt import LogfmtFormatter


def test_extra_fields_are_printed_after_the_message() -> None:
    record = logging.makeLogRecord(
        {
            "name": "smart_sre.lifecycle.reports",
            "levelname": "INFO",
            "msg": "report opened",
            "report": "checkout-crashloop",
            "reason": "two words",
        }
    )
    line = LogfmtFormatter("%(levelname)s %(name)s %(message)s").format(record)
    assert (
        line == 'INFO smart_sre.lifecycle.reports report opened report=checkout-crashloop reason="two words"'
    )
