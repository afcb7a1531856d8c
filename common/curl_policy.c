/*
 * curl_policy.c - see pc_curl_policy.h.  One copy of the settings that
 * decide whom a node trusts on the way to a mirror; a change here changes
 * the daemon and `peercachectl check` together.
 */
#include "pc_curl_policy.h"

CURLcode pc_curl_policy(CURL *easy, const char *ca_file, const char *proxy,
			bool direct)
{
	CURLcode code = CURLE_OK;

#define SET(opt, val)                                            \
	do {                                                     \
		if (code == CURLE_OK)                            \
			code = curl_easy_setopt(easy, opt, val); \
	} while (0)
	SET(CURLOPT_PROTOCOLS_STR, PC_CURL_PROTOCOLS);
	SET(CURLOPT_MAXREDIRS, PC_CURL_MAX_REDIRS);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_CIPHER_LIST, PC_CURL_TLS_CIPHERS);
	if (ca_file && ca_file[0])
		SET(CURLOPT_CAINFO, ca_file);
	if (direct)
		SET(CURLOPT_PROXY, "");
	else if (proxy && proxy[0])
		SET(CURLOPT_PROXY, proxy);
#undef SET
	return code;
}
