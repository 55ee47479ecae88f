"""What e2e tests share for checking and reporting: a Checker that prints one timed line per
check and collects the failures (a test fails at the end, after every check ran and printed), and
endpoint-text helpers for the "host:port" strings Braid and the kernel peer report."""

import time


class Checker:
    def __init__(self, name=""):
        self.name, self.failures = name, []
        self.t0 = time.monotonic()

    def __call__(self, cond, what, detail=""):
        detail = " ".join(str(detail).split())
        if len(detail) > 1500:
            detail = detail[:1500] + " ..."
        print("%6.1f %s %s%s" % (time.monotonic() - self.t0, "ok  " if cond else "FAIL", what,
                                (": %s" % detail) if detail else ""), flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def info(self, what):
        print("%6.1f      %s" % (time.monotonic() - self.t0, what), flush=True)


def port_of(endpoint):
    """'192.0.2.1:5000', '[2001:db8::1]:5000', '2001:db8::1:5000' -> 5000."""
    return int(str(endpoint).rsplit(":", 1)[1])


def host_of(endpoint):
    """'192.0.2.1:5000' -> '192.0.2.1', '[2001:db8::1]:5000' -> '2001:db8::1'."""
    return str(endpoint).rsplit(":", 1)[0].strip("[]")
