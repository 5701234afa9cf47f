#include <doctest/doctest.h>

#include "output/json_writer.hpp"

using facegate::detail::JsonWriter;

TEST_CASE("objects and arrays get commas and colons") {
  JsonWriter w;
  w.begin_object();
  w.key("a").number(std::uint64_t{1});
  w.key("b").begin_array().boolean(true).null().string("x").end_array();
  w.key("c").begin_object().end_object();
  w.key("d").number(std::int64_t{-5});
  w.end_object();
  CHECK(w.text() == R"({"a":1,"b":[true,null,"x"],"c":{},"d":-5})");
}

TEST_CASE("strings escape quotes, backslashes and control characters") {
  JsonWriter w;
  w.string(std::string("a\"b\\c\n\t\r\x01\x1f\x7f", 11));
  CHECK(w.text() == R"("a\"b\\c\n\t\r\u0001\u001f\u007f")");
}

TEST_CASE("well-formed UTF-8 passes, invalid bytes become U+FFFD") {
  JsonWriter w;
  w.begin_array();
  w.string("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");  // é, 中, 😀
  w.string("\xff");                                       // never valid
  w.string("\xc3");                                       // cut sequence
  w.string("\xc0\xaf");                                   // overlong '/'
  w.string("\xed\xa0\x80");                               // UTF-16 surrogate
  w.string("\xf4\x90\x80\x80");                           // above U+10FFFF
  w.end_array();
  CHECK(w.text() ==
        "[\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\",\"\\ufffd\",\"\\ufffd\","
        "\"\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\\ufffd\"]");
}

TEST_CASE("decimals are exact") {
  JsonWriter w;
  w.begin_array().decimal(574, 6).decimal(1148000, 6).decimal(0, 2).decimal(-5, 1).end_array();
  CHECK(w.text() == "[0.000574,1.148000,0.00,-0.5]");
}

TEST_CASE("optional values are null when absent; take() resets") {
  JsonWriter w;
  w.begin_array().optional_number(std::nullopt).optional_string("s").end_array();
  CHECK(w.take() == R"([null,"s"])");
  w.number(std::uint64_t{3});
  CHECK(w.text() == "3");
}
