#include "frugal/core/enum_names.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>

namespace {

using namespace frugal::core;
using frugal_test::expect_error;

enum class Colour { kRed, kGreen, kBlue };

constexpr EnumName<Colour> kColourNames[] = {
    {Colour::kRed, "red"}, {Colour::kGreen, "green"}, {Colour::kGreen, "lime"}, {Colour::kBlue, "blue"}};

TEST(EnumNames, ParsesNamesAndAliasesAndPrintsTheCanonicalName) {
  EXPECT_EQ(parse_enum("colour", kColourNames, "red"), Colour::kRed);
  EXPECT_EQ(parse_enum("colour", kColourNames, "lime"), Colour::kGreen);
  EXPECT_EQ(parse_enum("colour", kColourNames, "blue"), Colour::kBlue);
  EXPECT_EQ(enum_name("colour", kColourNames, Colour::kGreen), "green");
  EXPECT_EQ(enum_name("colour", kColourNames, Colour::kBlue), "blue");
}

TEST(EnumNames, RejectsOtherNamesListingTheChoicesAndValuesOutsideTheTable) {
  expect_error([] { parse_enum("colour", kColourNames, "Red"); },
               "unknown colour 'Red' (expected red, green/lime or blue)");
  expect_error([] { enum_name("colour", kColourNames, static_cast<Colour>(7)); }, "invalid colour value 7");
}

}  // namespace
