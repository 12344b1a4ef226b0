"""Schemathesis hooks for scripts/api_fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Every hook here edits POSITIVE (valid-data) cases only, in every phase, right before they are
sent (`before_call`); negative cases are always sent as generated, so the API's refusals of
what the schema forbids stay tested. Each edit is one a JSON Schema cannot express: without it
a schema-valid request is rightly refused with 422 and Schemathesis reports a false
"schema-valid request rejected" (positive_data_acceptance), which tests the generator, not the
API. Every edit keeps the request schema-valid (Schemathesis revalidates an edited case).

1. Idempotency-Key: a well-formed key gets a fresh suffix. Schemathesis draws header values
   from a small pool (the coverage phase sends the same few boundary values to every
   operation), so most keyed POSTs would reuse a key an earlier, different request used, and
   fleetd rightly answers 422 `idempotency_key_reused` (docs/http.md, "Idempotency keys").
   Keys that are not well-formed (empty, too long, not printable ASCII, outer spaces) are sent
   as generated.
2. Time windows: `[starts_at, ends_at)` in bodies and `[from, to)` in query strings are put in
   order (swapped; an empty window gets one hour) and clamped to the longest window allowed:
   assignments 31 days, maintenance 90, rentals and quotes and availability 366, a vehicle's
   track, OBD readings and summary 31, its trips and stops 366, the fleet report 3660. Values that do not parse as RFC 3339 are left alone (the schema's business).
3. POST and PATCH /v1/drivers: a `licence_expiry` in the past moves one year after today (UTC).
   POST /v1/rentals/{id}/complete: a `returned_at` becomes "now" (not in the future, not before
   the activation). Odometer readings (POST /v1/vehicles/{id}/odometer `reading_km`, rental
   activate and complete `odometer_km`) below what the hooks know the vehicle's odometer (or
   the rental's odometer out) to be are raised to it: odometers never go back.
4. VIN (POST /v1/vehicles, PATCH /v1/vehicles/{id}): a 17-character VIN of the allowed
   alphabet gets its correct North American check digit in position 9 (the algorithm of
   src/api/vehicles/vin.rs).
5. POST /v1/rentals/{id}/payments and POST /v1/rentals/{id}/payments/{payment_id}/refunds: the
   currency becomes the rental's, when the hooks saw it.
6. References (plan_id, customer_id, driver_id, vehicle_id, current_vehicle_id, user_id) to
   rows that do not exist become the ids of the fixture rows api_fuzz.sh created before the
   run (a pricing plan, a customer user and customer, a driver user and driver, a vehicle; see
   API_FUZZ_FIXTURES). An id the server itself issued (seen in a response, e.g. one a stateful
   link supplied) is kept, so the stateful phase still chains the rows it creates. A driver or
   customer profile needs a user of that role without a profile: an issued one is used when
   the hooks know of one, else the fixture's (which has a profile already: 409, accepted).
   An assignment whose known driver's licence expires before the window ends is moved back.
   A staff caller (the run's admin) must name the customer of a rental: a missing or null
   `customer_id` becomes the fixture customer.
7. Cursors: a `cursor` the server did not issue (in a `next_cursor`) is dropped.
8. GET /v1/stream (and GET /v1/positions, for its bbox): `jobs=false` without `bbox` or
   `events` becomes `jobs=true`; a bbox's
   latitudes and longitudes are clamped into range, and one with south > north
   gets the two swapped; `after` becomes 0 (an id that always exists) with `events`, and is
   dropped without them.
9. The run's own admin: PATCH /v1/users/{id} and POST /v1/users/{id}/password aimed at it go
   to a spare fixture user instead, since demoting or disabling the admin, or changing its
   password, revokes the token the whole run uses (POST /v1/auth/logout is left out of the run
   by api_fuzz.sh for the same reason). A PATCH changing the role of a user with a driver or
   customer profile keeps the role the hooks know (else drops it): a profile needs its role.

10. POST and PATCH /v1/webhooks: a `url` becomes http://192.0.2.1/fleetd-fuzz (TEST-NET-1: public,
   routed nowhere). Most generated URLs name hosts the SSRF guard rightly refuses (`http://0`
   is 0.0.0.0, `http://1` is 0.0.0.1) or do not parse as URLs at all.

11. POST and PATCH /v1/geofences: a `geometry` becomes a one-degree square (generated
   coordinates are almost never closed, simple rings); a PATCH giving only one of `center` and
   `radius_m` gets the other (a polygon fence becomes a circle only with both).

12. POST and PATCH /v1/maintenance-schedules: a lead not shorter than its interval
   (`lead_km` < `every_km`, `lead_days` < 28 × `every_months`) is cut to one less, and one
   without its interval becomes 0, on the schedule as it will be (a PATCH over the schedule
   the hooks last saw); a PATCH clearing the last interval keeps it. A `vehicle_id` is a
   reference (6). POST /v1/maintenance: a `schedule_id` that is not a schedule the hooks saw
   applying to the job's vehicle (its own, or its type's) is dropped (the field is optional).

13. POST and PATCH /v1/alert-rules: `scope.geofence_ids` the hooks do not know become the
   fixture geofence (which has a speed limit); a scope is fitted to the rule's kind (no scope
   for `licence_expiring`, no fences for `offline` and `maintenance_due`, the fixture fence
   for `geofence` and for `speeding` without `limit_kmh`); a DELETE of the fixture geofence
   goes to an id that names nothing (404), so that the fixture outlives the run. A PATCH's
   `params` become valid parameters of the rule's kind when the hooks know the rule (they are
   checked against it), and are dropped when they do not.

14. Locations: `origin_location_id` and `destination_location_id` of a quote or reservation,
   `location_id` of GET /v1/availability and the `geofence_id` of POST and PATCH
   /v1/locations are references (6), to the fixture location and fixture geofence; a
   destination without an origin gets the destination as its origin (a round trip). A DELETE
   of the fixture location goes to an id that names nothing (404), as for the fence (13).

So no case of this run exercises these refusals (a negative case breaks the schema, not these
rules); they are left to the integration tests (tests/it/) and the unit tests beside each rule
(docs/http.md, "Fuzzing the API"). The accepting side is exercised, in the stateful phase with
the rows it creates.

What the server issued is learnt by `after_call` from 2xx JSON responses (ids by collection,
user roles, drivers' licence expiry, rentals' currency and odometer out, next_cursor values).
Two workers share it, hence the lock.
"""

import datetime as dt
import json
import os
import re
import threading
import uuid

import schemathesis

# ---- shared state ------------------------------------------------------------------------------

_LOCK = threading.Lock()
_FIXTURES = {}
_fixtures_path = os.environ.get("API_FUZZ_FIXTURES")
if _fixtures_path:
    with open(_fixtures_path, encoding="utf-8") as f:
        _FIXTURES = json.load(f)

# Rows the server issued, by collection: id -> the last JSON object seen for it.
_SEEN = {c: {} for c in ("users", "customers", "drivers", "vehicles", "pricing-plans", "rentals",
                         "maintenance-schedules",
                         "geofences", "alert-rules", "locations")}
_CURSORS = set()
_PROFILED_USERS = set()  # user ids that have a driver or customer profile

for _coll, _key in (("users", "customer_user"), ("users", "driver_user"), ("customers", "customer"),
                    ("drivers", "driver"), ("vehicles", "vehicle"), ("pricing-plans", "plan"),
                    ("geofences", "geofence"), ("locations", "location")):
    if _key in _FIXTURES:
        _SEEN[_coll][_FIXTURES[_key]["id"]] = _FIXTURES[_key]
for _key in ("customer_user", "driver_user"):
    if _key in _FIXTURES:
        _PROFILED_USERS.add(_FIXTURES[_key]["id"])


def _positive(case):
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


# ---- 1. Idempotency-Key ------------------------------------------------------------------------

MAX_KEY_LEN = 255
SUFFIX_LEN = 33  # "-" + 32 hex digits


def _well_formed_key(value):
    # fleetd's rule (docs/http.md): ^[!-~]([ -~]{0,253}[!-~])?$, spaces only inside.
    return (
        isinstance(value, str)
        and 1 <= len(value) <= MAX_KEY_LEN
        and all(0x20 <= ord(c) <= 0x7E for c in value)
        and value[0] != " "
        and value[-1] != " "
    )


def _fresh_idempotency_key(headers):
    for name in list(headers or ()):
        if name.lower() == "idempotency-key" and _well_formed_key(headers[name]):
            prefix = headers[name][: MAX_KEY_LEN - SUFFIX_LEN]
            headers[name] = f"{prefix}-{uuid.uuid4().hex}"


# ---- 2. time windows ---------------------------------------------------------------------------

# (method, path) -> (container, start field, end field, longest window in days)
WINDOWS = {
    ("POST", "/v1/assignments"): ("body", "starts_at", "ends_at", 31),
    ("POST", "/v1/maintenance"): ("body", "starts_at", "ends_at", 90),
    ("POST", "/v1/rentals"): ("body", "starts_at", "ends_at", 366),
    ("POST", "/v1/rentals/quote"): ("body", "starts_at", "ends_at", 366),
    ("GET", "/v1/availability"): ("query", "from", "to", 366),
    ("GET", "/v1/vehicles/{id}/track"): ("query", "from", "to", 31),
    ("GET", "/v1/vehicles/{id}/obd"): ("query", "from", "to", 31),
    ("GET", "/v1/vehicles/{id}/trips"): ("query", "from", "to", 366),
    ("GET", "/v1/vehicles/{id}/stops"): ("query", "from", "to", 366),
    # 31 days fits both buckets (hour: 31, day: 3660).
    ("GET", "/v1/vehicles/{id}/summary"): ("query", "from", "to", 31),
    ("GET", "/v1/reports/fleet"): ("query", "from", "to", 3660),
    ("GET", "/v1/reports/revenue"): ("query", "from", "to", 3660),
    ("GET", "/v1/reports/vehicle-costs"): ("query", "from", "to", 3660),
}

# The financial reports take instants from 1970 to the end of 9999 (docs/financial-reports.md);
# a month to close is YYYY-MM of such a year, and one that has ended (a later one is a 409).
_BOOKS_TIMES = {
    ("GET", "/v1/reports/revenue"): ("from", "to"),
    ("GET", "/v1/reports/vehicle-costs"): ("from", "to"),
    ("GET", "/v1/reports/receivables"): ("as_of",),
}


def _fix_books(case, op, query):
    if op == ("POST", "/v1/ledger/periods/{month}/close"):
        if isinstance(case.path_parameters, dict):
            case.path_parameters["month"] = "2020-01"
        return
    keys = _BOOKS_TIMES.get(op)
    if keys is None or query is None:
        return
    def in_range(t):
        try:
            return t is None or 1970 <= t.astimezone(dt.timezone.utc).year <= 9999
        except (OverflowError, ValueError):
            return False

    if all(in_range(_parse_time(query.get(k))) for k in keys):
        return
    for k, v in zip(keys, ("2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00")):
        if k in query:
            query[k] = v
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _parse_time(value):
    if not isinstance(value, str) or not _RFC3339.match(value):
        return None
    text = value.upper().replace("Z", "+00:00")
    frac = re.search(r"\.(\d+)", text)
    if frac:  # Python takes at most 6 fraction digits
        text = text[: frac.start(1)] + frac.group(1)[:6].ljust(6, "0") + text[frac.end(1):]
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _shift(t, delta):
    """t + delta, or None past year 1 or 9999."""
    try:
        return t + delta
    except OverflowError:
        return None


def _fix_window(container, start_key, end_key, max_days):
    start, end = _parse_time(container.get(start_key)), _parse_time(container.get(end_key))
    if start is None or end is None:
        return
    limit = _shift(start, dt.timedelta(days=max_days))
    if start < end and (limit is None or end <= limit):
        return  # already a valid window: sent as generated
    if end < start:
        start, end = end, start
    if end == start:
        later = _shift(start, dt.timedelta(hours=1))
        if later is not None:
            end = later
        else:
            start = _shift(end, -dt.timedelta(hours=1))
    if end - start > dt.timedelta(days=max_days):
        end = start + dt.timedelta(days=max_days)
    container[start_key] = start.isoformat()
    container[end_key] = end.isoformat()


# ---- 3. dates that must not be past / future ---------------------------------------------------


def _fix_licence_expiry(body):
    value = body.get("licence_expiry")
    if not isinstance(value, str):
        return
    try:
        expiry = dt.date.fromisoformat(value)
    except ValueError:
        return
    today = dt.datetime.now(dt.timezone.utc).date()
    if expiry < today:
        body["licence_expiry"] = (today + dt.timedelta(days=365)).isoformat()


def _fix_return(body):
    if isinstance(body.get("returned_at"), str) and _parse_time(body["returned_at"]) is not None:
        # fleetd allows up to five minutes ahead (clock skew); one second keeps it after an
        # activation made a moment ago.
        now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        body["returned_at"] = now.isoformat()


def _raise_reading(body, field, *floors):
    """An odometer reading below the known floor (the vehicle's reading, the rental's
    odometer out) is raised to it: odometers never go back (fleetd's trigger)."""
    km = body.get(field)
    floor = max((f for f in floors if _is_number(f)), default=None)
    # A whole-number float (71.0) is an integer to fleetd, as to JSON Schema.
    if _is_number(km) and floor is not None and km < floor:
        body[field] = floor


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _vehicle_reading(vehicle_id):
    return (_SEEN["vehicles"].get(vehicle_id) or {}).get("odometer_km")


# ---- 4. VIN check digit ------------------------------------------------------------------------

VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
VIN_VALUES = {str(d): d for d in range(10)}
for _letters, _value in (("AJ", 1), ("BKS", 2), ("CLT", 3), ("DMU", 4), ("ENV", 5), ("FW", 6),
                         ("GPX", 7), ("HY", 8), ("RZ", 9)):
    VIN_VALUES.update(dict.fromkeys(_letters, _value))


def _fix_vin(body):
    vin = body.get("vin")
    if not isinstance(vin, str):
        return
    core = vin.strip()  # fleetd trims and upper-cases (ASCII) before it checks
    upper = "".join(c.upper() if c.isascii() else c for c in core)
    if len(upper) != 17 or any(c not in VIN_VALUES for c in upper):
        return
    rem = sum(VIN_VALUES[c] * w for c, w in zip(upper, VIN_WEIGHTS)) % 11
    digit = "X" if rem == 10 else str(rem)
    at = len(vin) - len(vin.lstrip()) + 8
    body["vin"] = vin[:at] + digit + vin[at + 1:]


# ---- 6. references -----------------------------------------------------------------------------


def _known(collection, ident):
    return isinstance(ident, str) and ident in _SEEN[collection]


def _fixture_id(key):
    return _FIXTURES.get(key, {}).get("id")


def _replace_ref(body, field, collection, fixture_key):
    value = body.get(field)
    if isinstance(value, str) and not _known(collection, value):
        replacement = _fixture_id(fixture_key)
        if collection == "vehicles" and replacement not in _SEEN["vehicles"]:
            # The fixture vehicle was deleted (a stateful DELETE reached it): any live one.
            replacement = next(iter(_SEEN["vehicles"]), None)
        if replacement is not None:
            body[field] = replacement


def _profile_user(body, role, fixture_key):
    value = body.get("user_id")
    if not isinstance(value, str):
        return
    user = _SEEN["users"].get(value)
    if user is not None and user.get("role") == role and value not in _PROFILED_USERS:
        return
    free = next((u for u, row in _SEEN["users"].items()
                 if row.get("role") == role and u not in _PROFILED_USERS), None)
    replacement = free or _fixture_id(fixture_key)
    if replacement is not None:
        body["user_id"] = replacement


def _fit_driver_licence(body):
    """Moves an assignment back so that it ends (UTC date) by its known driver's licence expiry."""
    driver = _SEEN["drivers"].get(body.get("driver_id"))
    start, end = _parse_time(body.get("starts_at")), _parse_time(body.get("ends_at"))
    if not driver or start is None or end is None:
        return
    try:
        expiry = dt.date.fromisoformat(driver.get("licence_expiry") or "")
        if end.astimezone(dt.timezone.utc).date() <= expiry:
            return
    except (ValueError, OverflowError):
        return
    last = dt.datetime.combine(expiry, dt.time(), tzinfo=dt.timezone.utc)
    new_start = _shift(start, last - end)
    if new_start is not None:
        body["starts_at"] = new_start.isoformat()
        body["ends_at"] = last.isoformat()


# ---- 8. stream ---------------------------------------------------------------------------------


def _fix_stream(query):
    bbox = query.get("bbox") or None  # an empty parameter is an absent one
    jobs = query.get("jobs")
    events = query.get("events")
    if events == "":  # an empty parameter is an absent one
        events = None
    if bbox is None and events is None and (
        jobs is False or (isinstance(jobs, str) and jobs.lower() == "false")
    ):
        query["jobs"] = True if isinstance(jobs, bool) else "true"
    if "after" in query:
        # Events resume after an id that exists: the first (0) always does.
        if events is None:
            del query["after"]
        else:
            query["after"] = 0
    _fix_bbox(query)


def _fix_bbox(query):
    bbox = query.get("bbox") or None  # an empty parameter is an absent one
    if isinstance(bbox, str):
        parts = bbox.split(",")
        if len(parts) == 4:
            try:
                values = [float(p) for p in parts]
            except ValueError:
                return
            # Latitudes into [-90, 90], longitudes into [-180, 180] (the pattern only says
            # "four decimals"); a changed part is written as a plain decimal, as the pattern wants.
            for i, limit in ((0, 90.0), (1, 180.0), (2, 90.0), (3, 180.0)):
                if abs(values[i]) > limit:
                    values[i] = limit if values[i] > 0 else -limit
                    parts[i] = "%.6f" % values[i]
            if values[0] > values[2]:
                parts[0], parts[2] = parts[2], parts[0]
            query["bbox"] = ",".join(parts)


# ---- 9. the run's own admin -----------------------------------------------------------------


def _spare_the_admin(case):
    params = case.path_parameters
    spare = _fixture_id("spare_user")
    if isinstance(params, dict) and spare and params.get("id") == _fixture_id("admin"):
        params["id"] = spare


def _spare_the_fixture_fence(case):
    # The alert rules' scopes fall back on the fixture geofence (13): a DELETE aimed at it goes
    # to an id that names nothing (404) instead, so that it outlives the run.
    params = case.path_parameters
    if isinstance(params, dict) and params.get("id") == _fixture_id("geofence"):
        params["id"] = str(uuid.uuid4())


def _spare_the_fixture_location(case):
    # References to unknown locations fall back on the fixture location (14).
    params = case.path_parameters
    if isinstance(params, dict) and params.get("id") == _fixture_id("location"):
        params["id"] = str(uuid.uuid4())


def _fix_rental_ends(body):
    _replace_ref(body, "origin_location_id", "locations", "location")
    _replace_ref(body, "destination_location_id", "locations", "location")
    if body.get("origin_location_id") is None and body.get("destination_location_id") is not None:
        body["origin_location_id"] = body["destination_location_id"]


def _keep_profile_role(body, user_id):
    if "role" not in body or user_id not in _PROFILED_USERS:
        return
    known = (_SEEN["users"].get(user_id) or {}).get("role")
    if known:
        body["role"] = known
    else:
        del body["role"]


# ---- 10. webhook URLs --------------------------------------------------------------------------

WEBHOOK_URL = "http://192.0.2.1/fleetd-fuzz"


# ---- 11. geofence areas ------------------------------------------------------------------------

GEOFENCE_SQUARE = {
    "type": "Polygon",
    "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]],
}


def _fix_geofence(body, patch):
    if isinstance(body.get("geometry"), dict):
        body["geometry"] = json.loads(json.dumps(GEOFENCE_SQUARE))
    if patch and body.get("geometry") is None:
        if isinstance(body.get("center"), dict) and body.get("radius_m") is None:
            body["radius_m"] = 100.0
        elif body.get("radius_m") is not None and body.get("center") is None:
            body["center"] = {"lat": 0.5, "lon": 0.5}


# ---- 12. maintenance schedules -------------------------------------------------------------------


def _fix_schedule(body, known):
    known = known or {}
    merged = dict(known)
    # null clears an interval; on any other field it counts as absent (keeps the value).
    merged.update({k: v for k, v in body.items() if v is not None or k in ("every_km", "every_months")})
    if merged.get("every_km") is None and merged.get("every_months") is None:
        for key in ("every_km", "every_months"):
            if key in body and known.get(key) is not None:
                del body[key]
                merged[key] = known[key]
                break
    for lead, every, days_per in (("lead_km", "every_km", 1), ("lead_days", "every_months", 28)):
        interval, value = merged.get(every), merged.get(lead) or 0
        if not _is_number(value) or (interval is not None and not _is_number(interval)):
            continue
        if interval is None:
            if value > 0:
                body[lead] = 0
        elif value >= interval * days_per:
            body[lead] = int(interval * days_per - 1)


def _fix_job_schedule(body):
    schedule = _SEEN["maintenance-schedules"].get(body.get("schedule_id"))
    if body.get("schedule_id") is None:
        return
    vehicle = _SEEN["vehicles"].get(body.get("vehicle_id")) or {}
    if schedule and (
        schedule.get("vehicle_id") == body.get("vehicle_id")
        or (schedule.get("vehicle_type") is not None
            and schedule.get("vehicle_type") == vehicle.get("type"))
    ):
        return
    del body["schedule_id"]


# ---- 13. alert rules ---------------------------------------------------------------------------

# Valid parameters of each kind, for a PATCH of a rule whose kind the hooks know.
ALERT_PARAMS = {
    "speeding": {"limit_kmh": 90.0, "min_duration_s": 10},
    "dtc": {"families": ["P"]},
    "low_fuel": {"below_pct": 10.0},
    "fuel_drop": {"drop_pct": 10.0, "within_s": 600},
    "overheat": {"coolant_c": 110.0, "min_duration_s": 60},
    "offline": {"after_min": 15},
    "geofence": {"on": "both"},
    "maintenance_due": {},
    "licence_expiring": {"within_days": 30},
}


def _fit_alert_scope(body, kind, params):
    scope = body.get("scope")
    if not isinstance(scope, dict):
        return
    fixture = _fixture_id("geofence")
    fences = scope.get("geofence_ids")
    if isinstance(fences, list):
        known = [f for f in fences if _known("geofences", f) and f != fixture]
        if len(known) < len(fences) and fixture is not None:
            known.append(fixture)
        scope["geofence_ids"] = known
    if kind == "licence_expiring":
        for key in ("vehicle_types", "vehicle_ids", "geofence_ids"):
            if key in scope:
                scope[key] = []
    elif kind in ("offline", "maintenance_due"):
        if "geofence_ids" in scope:
            scope["geofence_ids"] = []
    elif fixture is not None and (
        kind == "geofence"
        or (kind == "speeding" and isinstance(params, dict) and params.get("limit_kmh") is None)
    ):
        # Only fences known to have a speed limit: the fixture's.
        scope["geofence_ids"] = [fixture]


def _fix_alert_rule(body, rule_id):
    if rule_id is None:
        kind = body.get("kind")
        params = body.get("params", {})
        if kind in ("geofence", "speeding") and not isinstance(body.get("scope"), dict):
            if kind == "geofence" or (isinstance(params, dict) and params.get("limit_kmh") is None):
                body["scope"] = {}
        _fit_alert_scope(body, kind, params)
        return
    rule = _SEEN["alert-rules"].get(rule_id)
    if rule is None:
        body.pop("params", None)
        body.pop("scope", None)
        return
    kind = rule.get("kind")
    if isinstance(body.get("params"), dict) and kind in ALERT_PARAMS:
        body["params"] = json.loads(json.dumps(ALERT_PARAMS[kind]))
    params = body.get("params") if isinstance(body.get("params"), dict) else rule.get("params")
    if kind in ("geofence", "speeding") and body.get("params") is not None:
        if not isinstance(body.get("scope"), dict):
            body["scope"] = rule.get("scope") or {}
    _fit_alert_scope(body, kind, params)


# ---- the hooks ---------------------------------------------------------------------------------


@schemathesis.hook
def before_call(context, case, kwargs):
    # Negative cases are left alone: an edited case is revalidated, and a coverage probe that
    # leaves out Authorization would turn positive and get the token back (a false ST203).
    if not _positive(case):
        return
    _fresh_idempotency_key(case.headers)
    op = (case.operation.method.upper(), case.operation.path)
    body = case.body if isinstance(case.body, dict) else None
    query = case.query if isinstance(case.query, dict) else None
    with _LOCK:
        if query is not None and "cursor" in query and query["cursor"] not in _CURSORS:
            del query["cursor"]
        window = WINDOWS.get(op)
        if window is not None:
            container = body if window[0] == "body" else query
            if container is not None:
                _fix_window(container, *window[1:])
        _fix_books(case, op, query)
        if op[1].startswith("/v1/users/{id}"):
            _spare_the_admin(case)
        if op == ("DELETE", "/v1/geofences/{id}"):
            _spare_the_fixture_fence(case)
        if op == ("DELETE", "/v1/locations/{id}"):
            _spare_the_fixture_location(case)
        if op == ("GET", "/v1/availability") and query is not None:
            _replace_ref(query, "location_id", "locations", "location")
        if body is None:
            if op in (("GET", "/v1/stream"), ("GET", "/v1/positions")) and query is not None:
                _fix_stream(query)
            return
        if op in (("POST", "/v1/webhooks"), ("PATCH", "/v1/webhooks/{id}")):
            if isinstance(body.get("url"), str):
                body["url"] = WEBHOOK_URL
        if op in (("POST", "/v1/geofences"), ("PATCH", "/v1/geofences/{id}")):
            _fix_geofence(body, op[0] == "PATCH")
        if op == ("POST", "/v1/alert-rules"):
            _fix_alert_rule(body, None)
        elif op == ("PATCH", "/v1/alert-rules/{id}"):
            _fix_alert_rule(body, (case.path_parameters or {}).get("id"))
        if op == ("PATCH", "/v1/users/{id}"):
            _keep_profile_role(body, (case.path_parameters or {}).get("id"))
        if op == ("POST", "/v1/drivers"):
            _fix_licence_expiry(body)
            _profile_user(body, "driver", "driver_user")
        elif op == ("POST", "/v1/customers"):
            _profile_user(body, "customer", "customer_user")
        elif op == ("PATCH", "/v1/drivers/{id}"):
            _fix_licence_expiry(body)
            _replace_ref(body, "current_vehicle_id", "vehicles", "vehicle")
        elif op in (("POST", "/v1/vehicles"), ("PATCH", "/v1/vehicles/{id}")):
            _fix_vin(body)
        elif op in (("POST", "/v1/locations"), ("PATCH", "/v1/locations/{id}")):
            _replace_ref(body, "geofence_id", "geofences", "geofence")
        elif op == ("POST", "/v1/rentals/quote"):
            _replace_ref(body, "plan_id", "pricing-plans", "plan")
            _fix_rental_ends(body)
        elif op == ("POST", "/v1/rentals"):
            if body.get("customer_id") is None and _fixture_id("customer") is not None:
                body["customer_id"] = _fixture_id("customer")
            _replace_ref(body, "plan_id", "pricing-plans", "plan")
            _replace_ref(body, "customer_id", "customers", "customer")
            _replace_ref(body, "vehicle_id", "vehicles", "vehicle")
            _fix_rental_ends(body)
        elif op == ("POST", "/v1/assignments"):
            _replace_ref(body, "driver_id", "drivers", "driver")
            _replace_ref(body, "vehicle_id", "vehicles", "vehicle")
            _fit_driver_licence(body)
        elif op == ("POST", "/v1/maintenance"):
            _replace_ref(body, "vehicle_id", "vehicles", "vehicle")
            _fix_job_schedule(body)
        elif op == ("POST", "/v1/maintenance-schedules"):
            _replace_ref(body, "vehicle_id", "vehicles", "vehicle")
            _fix_schedule(body, None)
        elif op == ("PATCH", "/v1/maintenance-schedules/{id}"):
            _replace_ref(body, "vehicle_id", "vehicles", "vehicle")
            known = _SEEN["maintenance-schedules"].get((case.path_parameters or {}).get("id"))
            _fix_schedule(body, known)
        elif op == ("POST", "/v1/vehicles/{id}/odometer"):
            _raise_reading(body, "reading_km", _vehicle_reading((case.path_parameters or {}).get("id")))
        elif op[1].startswith("/v1/rentals/{id}/"):
            rental = _SEEN["rentals"].get((case.path_parameters or {}).get("id")) or {}
            vehicle_km = _vehicle_reading(rental.get("vehicle_id"))
            if op[1].endswith("/payments") or op[1].endswith("/refunds"):
                # A refund is in its payment's currency, which is the rental's.
                if rental and isinstance(body.get("currency"), str):
                    body["currency"] = rental["currency"]
            elif op[1].endswith("/activate"):
                _raise_reading(body, "odometer_km", vehicle_km)
            elif op[1].endswith("/complete"):
                _fix_return(body)
                _raise_reading(body, "odometer_km", vehicle_km, rental.get("odometer_out"))


def _collection(path):
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "v1" and parts[2] in _SEEN:
        return parts[2]
    return None


# Triage aid: with API_FUZZ_REJECTIONS=FILE, every valid-data case answered 400 or 422 is
# appended to FILE as a JSON line. Schemathesis reports one rejection per operation, so one
# cause can hide the others behind it; this file lists them all (api_fuzz.sh sets it to
# .run/fuzz/rejections.jsonl).
_REJECTIONS = os.environ.get("API_FUZZ_REJECTIONS")


def _log_rejection(case, response):
    try:
        message = response.json()["error"]["message"]
    except Exception:  # noqa: BLE001 - any answer that is not fleetd's error shape
        message = response.content[:200].decode("utf-8", "replace")
    line = json.dumps({
        "operation": f"{case.operation.method.upper()} {case.operation.path}",
        "phase": case.meta.phase.name.value if case.meta is not None else None,
        "status": response.status_code,
        "message": message,
        "query": case.query if isinstance(case.query, dict) else None,
        "body": case.body if isinstance(case.body, (dict, list, str, int, float)) else None,
    }, default=repr)[:2000]
    with _LOCK, open(_REJECTIONS, "a", encoding="utf-8") as out:
        out.write(line + "\n")


@schemathesis.hook
def after_call(context, case, response):
    """Learns what the server issued from its 2xx JSON answers (any case, positive or not)."""
    if _REJECTIONS and response.status_code in (400, 422) and _positive(case):
        _log_rejection(case, response)
    if not 200 <= response.status_code < 300:
        return
    path = case.operation.path
    collection = _collection(path)
    if case.operation.method.upper() == "DELETE":
        # Only DELETE /v1/{collection}/{id} removes a row; DELETE of a sub-resource
        # (/v1/vehicles/{id}/tracker-credentials) leaves it in place.
        if collection is not None and path.count("/") == 3:
            with _LOCK:
                _SEEN[collection].pop((case.path_parameters or {}).get("id"), None)
        return
    if not response.content or not response.headers.get("content-type", [""])[0].startswith(
        "application/json"
    ):
        return
    try:
        data = response.json()
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    with _LOCK:
        if isinstance(data.get("next_cursor"), str):
            _CURSORS.add(data["next_cursor"])
        if collection is None or path.startswith("/v1/rentals/quote"):
            return
        rows = data.get("items") if isinstance(data.get("items"), list) else [data]
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                _SEEN[collection][row["id"]] = row
                if collection in ("drivers", "customers") and isinstance(row.get("user_id"), str):
                    _PROFILED_USERS.add(row["user_id"])
                if collection == "rentals":  # activate and complete move the vehicle's odometer
                    vehicle = _SEEN["vehicles"].get(row.get("vehicle_id"))
                    readings = [row.get("odometer_out"), row.get("odometer_in")]
                    if vehicle is not None:
                        _raise_reading(vehicle, "odometer_km", *readings)
