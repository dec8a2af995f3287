// The Catch2 main, compiled once per test flavour.
#define CATCH_CONFIG_PREFIX_ALL  // torch's c10 logging defines CHECK; use CATCH_CHECK etc.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
