"""Test support that never ships: base test cases, private and killable services, and fakes of the outside world."""
