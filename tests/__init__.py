"""The test suite; a package so that its folders (tests/ui, ...) never shadow the product's packages."""
