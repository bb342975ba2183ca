"""Helpers the tests share: servers, fixtures, runners. No test module imports another."""
