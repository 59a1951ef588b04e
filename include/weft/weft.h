// weft.h brings in the whole runtime and the network layer.
#pragma once

#include "weft/net/net.h"
#include "weft/runtime/blocking.h"
#include "weft/runtime/chan.h"
#include "weft/runtime/context.h"
#include "weft/runtime/fiber_local.h"
#include "weft/runtime/pool.h"
#include "weft/runtime/select.h"
#include "weft/runtime/stats.h"
#include "weft/runtime/sync.h"
#include "weft/runtime/task.h"
#include "weft/runtime/time.h"
