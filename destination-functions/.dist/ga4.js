// ga4 destination function for Segment (Functions runtime, Node 20).
// Built from destination-functions/ga4/index.ts by `referral-bridge functions build ga4`; do not edit.
const GA4_DEFAULT_BASE_URL = "https://www.google-analytics.com";
const GA4_NAME_MAX = 40;
const GA4_VALUE_MAX = 100;
const GA4_MAX_PARAMS = 25;
const GA4_ID_PARAMS = ["referral_id", "referral_code", "advocate_id", "friend_id", "source_platform"];
const GA4_MAX_BACKDATE_MS = 72 * 60 * 60 * 1e3;
async function onTrack(event, settings) {
  const cfg = ga4Config(settings);
  const properties = event.properties ?? {};
  const ga4Event = event.event === "Order Completed" ? ga4Purchase(event) : { name: ga4EventName(event.event), params: ga4Params(properties) };
  const body = {
    client_id: ga4ClientId(event),
    events: [ga4Event]
  };
  if (event.userId) body.user_id = ga4NoPii(String(event.userId));
  const ts = Date.parse(String(event.timestamp ?? ""));
  if (Number.isFinite(ts) && Date.now() - ts < GA4_MAX_BACKDATE_MS && ts <= Date.now() + 6e4) body.timestamp_micros = ts * 1e3;
  await ga4Send(cfg, body);
}
function ga4Purchase(event) {
  const p = event.properties ?? {};
  const value = typeof p.revenue === "number" ? p.revenue : typeof p.total === "number" ? p.total : void 0;
  const currency = typeof p.currency === "string" ? p.currency.toUpperCase() : void 0;
  if (value !== void 0 && !(currency && /^[A-Z]{3}$/.test(currency))) {
    throw new InvalidEventPayload("Order Completed has revenue but no ISO-4217 currency: GA4 drops a purchase value without one");
  }
  const transactionId = p.order_id ?? p.checkout_id ?? event.messageId;
  if (!transactionId) throw new InvalidEventPayload("Order Completed has no order_id: GA4 purchases need a transaction_id");
  return {
    name: "purchase",
    params: { ...ga4Params(p), transaction_id: String(transactionId), ...value !== void 0 ? { value, currency } : {} }
  };
}
function ga4EventName(name) {
  let n = name.trim().toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
  if (!/^[a-z]/.test(n)) n = `event_${n}`;
  return n.slice(0, GA4_NAME_MAX);
}
function ga4Params(properties) {
  const out = {};
  const add = (key, value) => {
    if (Object.keys(out).length >= GA4_MAX_PARAMS - 4) return;
    const name = ga4EventName(key);
    if (name in out || /email/.test(name) || /^(_|firebase_|ga_|google_)/.test(name)) return;
    if (typeof value === "number" && Number.isFinite(value)) out[name] = value;
    else if (typeof value === "string" && value !== "") out[name] = ga4NoPii(value).slice(0, GA4_VALUE_MAX);
    else if (typeof value === "boolean") out[name] = String(value);
  };
  for (const key of GA4_ID_PARAMS) add(key, properties[key]);
  for (const [key, value] of Object.entries(properties)) add(key, value);
  out.engagement_time_msec = 1;
  return out;
}
function ga4NoPii(value) {
  return value.includes("@") ? crypto.createHash("sha256").update(value.trim().toLowerCase()).digest("hex") : value;
}
function ga4ClientId(event) {
  const p = event.properties ?? {};
  const known = p.ga_client_id ?? event.context?.ga_client_id;
  if (typeof known === "string" && known) return known;
  const cookie = event.context?.ga_cookie;
  const fromCookie = typeof cookie === "string" ? /^GA\d\.\d+\.(\d+\.\d+)$/.exec(cookie)?.[1] : void 0;
  if (fromCookie) return fromCookie;
  const person = String(event.userId ?? event.anonymousId ?? event.messageId ?? "");
  const hex = crypto.createHash("sha256").update(`referral-bridge:${person}`).digest("hex");
  return `${parseInt(hex.slice(0, 8), 16)}.${parseInt(hex.slice(8, 16), 16)}`;
}
function ga4Config(settings) {
  const measurementId = typeof settings.measurementId === "string" ? settings.measurementId.trim() : "";
  const apiSecret = typeof settings.apiSecret === "string" ? settings.apiSecret.trim() : "";
  if (!measurementId) throw new ValidationError("measurementId setting is required (Admin \u2192 Data Streams \u2192 your stream \u2192 Measurement ID, G-...)");
  if (!apiSecret) throw new ValidationError("apiSecret setting is required (Admin \u2192 Data Streams \u2192 your stream \u2192 Measurement Protocol API secrets)");
  const base = (typeof settings.baseUrl === "string" && settings.baseUrl ? settings.baseUrl : GA4_DEFAULT_BASE_URL).replace(/\/+$/, "");
  const q = new URLSearchParams({ measurement_id: measurementId, api_secret: apiSecret });
  return { url: `${base}/mp/collect?${q}` };
}
async function ga4Send(cfg, body) {
  let res;
  try {
    res = await fetch(cfg.url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (err) {
    const e = err;
    throw new RetryError(`network error talking to GA4: ${e?.code ?? e?.message ?? String(err)}`);
  }
  if (res.status >= 200 && res.status < 300) return;
  const text = await res.text().catch(() => "");
  if (res.status === 429 || res.status >= 500) {
    const retry = new RetryError(`GA4 ${res.status}: ${text.slice(0, 200)}`);
    retry.status = res.status;
    const after = Number(res.headers.get("retry-after"));
    if (Number.isFinite(after) && after > 0) retry.retryAfterMs = after * 1e3;
    throw retry;
  }
  throw new ValidationError(`GA4 ${res.status}: ${text.slice(0, 200)} (check measurementId and baseUrl)`);
}
