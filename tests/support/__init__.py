"""Helpers shared by the test suites: servers, counties, browsers, probes."""
