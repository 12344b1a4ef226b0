"""Schemathesis hooks for scripts/api_fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Only one: every request that carries a well-formed Idempotency-Key gets a key of its own.
Schemathesis draws header values from a small pool (the coverage phase sends the same few
boundary values to every operation), so without this most keyed POSTs reuse a key that an
earlier, different request already used, and fleetd rightly answers 422
`idempotency_key_reused` (docs/http.md, "Idempotency keys"): a client error of the fuzzer, not
of the API, that the schema cannot express (it has no "unique per request" keyword). Keys that
are not well-formed (empty, too long, not visible ASCII), and every negative case, are sent as
generated, so the API's and the schema's rules on the key itself are still tested.
"""

import uuid

import schemathesis

MAX_KEY_LEN = 255
SUFFIX_LEN = 33  # "-" + 32 hex digits


def _well_formed(value):
    return (
        isinstance(value, str)
        and 1 <= len(value) <= MAX_KEY_LEN
        and all(0x21 <= ord(c) <= 0x7E for c in value)
    )


@schemathesis.hook
def before_call(context, case, kwargs):
    # Negative cases are left alone: an edited case is revalidated, and a coverage probe that
    # leaves out Authorization would turn positive and get the token back (a false ST203).
    meta = case.meta
    if meta is not None and not meta.generation.mode.is_positive:
        return
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        if name.lower() == "idempotency-key" and _well_formed(headers[name]):
            prefix = headers[name][: MAX_KEY_LEN - SUFFIX_LEN]
            headers[name] = f"{prefix}-{uuid.uuid4().hex}"
