#pragma once
// Asserts that a call throws c10::Error whose message contains a fragment.

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <string>

namespace frugal_test {

template <typename F>
void expect_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message was: " << e.what_without_backtrace();
  }
}

}  // namespace frugal_test
