// HTTP status codes and their reason phrases.
#pragma once

#include <string_view>

namespace weft::http {

// The status codes weft itself produces or inspects; any code 100-999 may be written.
namespace status {
inline constexpr int kContinue = 100;
inline constexpr int kSwitchingProtocols = 101;
inline constexpr int kOk = 200;
inline constexpr int kCreated = 201;
inline constexpr int kAccepted = 202;
inline constexpr int kNoContent = 204;
inline constexpr int kPartialContent = 206;
inline constexpr int kMovedPermanently = 301;
inline constexpr int kFound = 302;
inline constexpr int kSeeOther = 303;
inline constexpr int kNotModified = 304;
inline constexpr int kTemporaryRedirect = 307;
inline constexpr int kPermanentRedirect = 308;
inline constexpr int kBadRequest = 400;
inline constexpr int kUnauthorized = 401;
inline constexpr int kForbidden = 403;
inline constexpr int kNotFound = 404;
inline constexpr int kMethodNotAllowed = 405;
inline constexpr int kRequestTimeout = 408;
inline constexpr int kConflict = 409;
inline constexpr int kLengthRequired = 411;
inline constexpr int kPreconditionFailed = 412;
inline constexpr int kPayloadTooLarge = 413;
inline constexpr int kUriTooLong = 414;
inline constexpr int kUnsupportedMediaType = 415;
inline constexpr int kRangeNotSatisfiable = 416;
inline constexpr int kExpectationFailed = 417;
inline constexpr int kTooManyRequests = 429;
inline constexpr int kRequestHeaderFieldsTooLarge = 431;
inline constexpr int kInternalServerError = 500;
inline constexpr int kNotImplemented = 501;
inline constexpr int kBadGateway = 502;
inline constexpr int kServiceUnavailable = 503;
inline constexpr int kGatewayTimeout = 504;
inline constexpr int kHttpVersionNotSupported = 505;
}  // namespace status

// The standard reason phrase for code ("OK", "Not Found"), or "" for an unregistered code.
std::string_view status_text(int code) noexcept;

// True when a response with this status carries no body (1xx, 204, 304).
constexpr bool status_has_no_body(int code) noexcept {
  return (code >= 100 && code < 200) || code == 204 || code == 304;
}

}  // namespace weft::http
