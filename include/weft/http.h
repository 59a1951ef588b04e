// weft::http: the HTTP/1.1 server, router, middleware, static files and client.
#pragma once

#include "weft/http/client.h"
#include "weft/http/client_metrics.h"
#include "weft/http/debug_handlers.h"
#include "weft/http/file_server.h"
#include "weft/http/handler.h"
#include "weft/http/headers.h"
#include "weft/http/metrics_handler.h"
#include "weft/http/middleware.h"
#include "weft/http/mux.h"
#include "weft/http/parser.h"
#include "weft/http/request.h"
#include "weft/http/server.h"
#include "weft/http/server_metrics.h"
#include "weft/http/status.h"
