import re

from smart_sre.lifecycle.naming import report_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_same_problem_same_name_and_different_problems_differ():
    a = report_name("default", "Deployment", "web", "CrashLoopBackOff")
    assert a == report_name("default", "Deployment", "web", "CrashLoopBackOff")
    assert a.startswith("web-crashloopbackoff-")
    others = {
        report_name("prod", "Deployment", "web", "CrashLoopBackOff"),
        report_name("default", "StatefulSet", "web", "CrashLoopBackOff"),
        report_name("default", "Deployment", "web", "Pending"),
        report_name("default", "Deployment", "web", "CrashLoopBackOff", occurrence=2),
    }
    assert a not in others
    assert len(others) == 4


def test_long_names_are_valid_dns_labels_and_stay_distinct():
    long_a = "a" * 80 + ".service"
    long_b = "a" * 80 + ".other"
    names = [
        report_name("ns", "Deployment", n, "CreateContainerConfigError", occurrence=12)
        for n in (long_a, long_b)
    ]
    for name in names:
        assert len(name) <= 63
        assert DNS_LABEL.match(name), name
    assert names[0] != names[1]
