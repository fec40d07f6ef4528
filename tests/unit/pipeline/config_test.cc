#include <gtest/gtest.h>
#include "pipeline/config.hh"
TEST(config, placeholder) { EXPECT_TRUE(true); }
