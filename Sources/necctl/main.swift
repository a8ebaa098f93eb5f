// necctl entry point.
