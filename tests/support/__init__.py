"""Helpers the tests share (no test module imports another): each module here serves tests in
several places of the tree."""
