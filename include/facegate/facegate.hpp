// facegate: every public header at once.
#pragma once

#include "facegate/check.hpp"
#include "facegate/detect.hpp"
#include "facegate/fetch.hpp"
#include "facegate/gateway.hpp"
#include "facegate/ledger.hpp"
#include "facegate/probe.hpp"
#include "facegate/rules.hpp"
#include "facegate/upload.hpp"
