"""`modelkit watch` refuses what it cannot run with, naming the problem."""

from .helpers import watch


def test_watch_without_prometheus_names_the_variable_and_the_synthetic_option(models):
    done = watch(models, "--once")
    assert done.returncode == 2
    assert "PROMETHEUS_URL is not set" in done.stderr and "--synthetic" in done.stderr


def test_watch_refuses_a_non_positive_interval(models):
    done = watch(models, "--interval", "0", "--synthetic")
    assert done.returncode == 2 and "--interval 0.0: must be a positive number of seconds" in done.stderr


def test_watch_refuses_an_unverifiable_ca_bundle_path(models):
    done = watch(models, "--once", PROMETHEUS_URL="https://127.0.0.1:9", PROMETHEUS_CA_BUNDLE="/no/such/ca.crt")
    assert done.returncode == 2 and "PROMETHEUS_CA_BUNDLE='/no/such/ca.crt' is not an existing file" in done.stderr
