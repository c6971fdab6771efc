"""The test suite as a package tree, so helpers are imported by their full name
(``tests.integration.api.api_client``) and no two test modules can clash by file name."""
