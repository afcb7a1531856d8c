/*
 * pc_curl_policy.h - the TLS and proxy policy of every transfer to a
 * mirror, in one place: the daemon's transfers (net/curl_uv.c) and
 * `peercachectl check` (tools/ctl/check.c) both set it, so that check
 * tests what the daemon does.  Built into its own library (pc_curl_policy)
 * so that only what links libcurl pulls it in.
 */
#ifndef PC_CURL_POLICY_H
#define PC_CURL_POLICY_H

#include <stdbool.h>

#include <curl/curl.h>

/* TLS 1.2 or later with forward secrecy and AEAD suites only. */
#define PC_CURL_TLS_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
/* What a mirror URL may be, and how far its redirects may go. */
#define PC_CURL_PROTOCOLS "http,https,file"
#define PC_CURL_MAX_REDIRS 3L

/*
 * Sets on @easy: the protocols, at most PC_CURL_MAX_REDIRS redirects,
 * peer and host verification, TLS 1.2+ with PC_CURL_TLS_CIPHERS, @ca_file
 * (NULL or "": the system's CAs), and the proxy: none at all when
 * @direct (not even one from the environment), else @proxy (NULL or "":
 * libcurl's default, the environment's).  The first failing option's code.
 */
CURLcode pc_curl_policy(CURL *easy, const char *ca_file, const char *proxy,
			bool direct);

#endif /* PC_CURL_POLICY_H */
