// klaviyo destination function for Segment (Functions runtime, Node 20).
// Built from destination-functions/klaviyo/index.ts by `referral-bridge functions build klaviyo`; do not edit.
const KV_DEFAULT_BASE_URL = "https://a.klaviyo.com";
const KV_REVISION = "2024-10-15";
const KV_PROFILE_EMAIL = {
  "Referred Friend Signed Up": "friend_email",
  "Referral Created": "friend_email",
  "Order Completed": "friend_email",
  "Referral Revenue Won": "advocate_email"
};
const KV_PROFILE_FIRST_NAME = {
  "Referred Friend Signed Up": "friend_first_name",
  "Referral Created": "friend_first_name"
};
const KV_PROFILE_TRAITS = ["referral_role", "referral_code", "referred_by", "referral_id", "source_platform"];
async function onTrack(event, settings) {
  const properties = event.properties ?? {};
  const email = kvEventEmail(event);
  if (!email) {
    throw new InvalidEventPayload(`${event.event} has no ${KV_PROFILE_EMAIL[event.event] ?? "properties.email"}: Klaviyo profiles are keyed on email here`);
  }
  const profile = { email };
  const firstName = kvString(properties[KV_PROFILE_FIRST_NAME[event.event] ?? "first_name"]);
  if (firstName) profile.first_name = firstName;
  const attributes = {
    properties,
    metric: { data: { type: "metric", attributes: { name: event.event } } },
    profile: { data: { type: "profile", attributes: profile } }
  };
  const time = kvString(event.timestamp);
  if (time && !Number.isNaN(Date.parse(time))) attributes.time = new Date(Date.parse(time)).toISOString();
  const messageId = kvString(event.messageId);
  if (messageId) attributes.unique_id = messageId;
  if (typeof properties.revenue === "number" && Number.isFinite(properties.revenue)) attributes.value = properties.revenue;
  await kvRequest(settings, "/api/events", { data: { type: "event", attributes } });
}
async function onIdentify(event, settings) {
  const traits = event.traits ?? {};
  const email = kvEmail(traits.email);
  if (!email) throw new InvalidEventPayload("identify has no traits.email: Klaviyo profiles are keyed on email here");
  const attributes = { email };
  const first = kvString(traits.first_name ?? traits.firstName);
  const last = kvString(traits.last_name ?? traits.lastName);
  if (first) attributes.first_name = first;
  if (last) attributes.last_name = last;
  const properties = {};
  for (const key of KV_PROFILE_TRAITS) {
    const v = kvString(traits[key]);
    if (v !== void 0) properties[key] = v;
  }
  if (Object.keys(properties).length) attributes.properties = properties;
  await kvRequest(settings, "/api/profile-import", { data: { type: "profile", attributes } });
}
function kvString(value) {
  if (value === void 0 || value === null) return void 0;
  const s = String(value).trim();
  return s === "" ? void 0 : s;
}
function kvEmail(value) {
  const s = kvString(value);
  return s && s.includes("@") ? s.toLowerCase() : void 0;
}
function kvEventEmail(event) {
  const p = event.properties ?? {};
  let field = KV_PROFILE_EMAIL[event.event];
  if (event.event === "Referral Reward Earned") field = p.recipient_role === "friend" ? "friend_email" : "advocate_email";
  return (field ? kvEmail(p[field]) : void 0) ?? kvEmail(p.email) ?? kvEmail(event.context?.traits?.email) ?? kvEmail(event.userId);
}
async function kvRequest(settings, path, body) {
  const apiKey = kvString(settings.apiKey);
  if (!apiKey) throw new ValidationError("apiKey setting is required (a Klaviyo private API key, pk_...)");
  const base = (kvString(settings.baseUrl) ?? KV_DEFAULT_BASE_URL).replace(/\/+$/, "");
  const revision = kvString(settings.revision) ?? KV_REVISION;
  let response;
  try {
    response = await fetch(`${base}${path}`, {
      method: "POST",
      headers: {
        Authorization: `Klaviyo-API-Key ${apiKey}`,
        revision,
        accept: "application/vnd.api+json",
        "content-type": "application/vnd.api+json"
      },
      body: JSON.stringify(body)
    });
  } catch (err) {
    const e = err;
    const why = e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
    const retry = new RetryError(`network error talking to Klaviyo: ${why}`);
    throw retry;
  }
  if (response.status >= 200 && response.status < 300) {
    await response.text().catch(() => "");
    return;
  }
  kvThrow(await kvFailure(response));
}
async function kvFailure(response) {
  const text = await response.text().catch(() => "");
  let errors = [];
  try {
    const parsed = JSON.parse(text);
    if (Array.isArray(parsed?.errors)) errors = parsed.errors;
  } catch {
  }
  const parts = errors.map((e) => {
    const where = e.source?.pointer ? ` (at ${e.source.pointer})` : e.source?.parameter ? ` (parameter ${e.source.parameter})` : "";
    return `${e.code ?? "error"}: ${e.detail ?? e.title ?? ""}${where}`;
  });
  const detail = parts.length ? parts.join("; ") : text.slice(0, 200);
  const failure = { status: response.status, message: `Klaviyo ${response.status}${detail ? ` ${detail}` : ""}` };
  const retryAfter = response.headers.get("retry-after");
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1e3 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) failure.retryAfterMs = ms;
  }
  return failure;
}
function kvThrow(f) {
  if (f.status === 429 || f.status === 408 || f.status >= 500 && f.status !== 501) {
    const e2 = new RetryError(f.message);
    e2.status = f.status;
    if (f.retryAfterMs !== void 0) e2.retryAfterMs = f.retryAfterMs;
    throw e2;
  }
  if (f.status === 401 || f.status === 403) {
    const e2 = new ValidationError(`${f.message} (check the apiKey setting: a private key with the events:write and profiles:write scopes)`);
    e2.status = f.status;
    throw e2;
  }
  if (f.status === 410) {
    const e2 = new ValidationError(`${f.message} (the API revision is retired: update the revision setting)`);
    e2.status = f.status;
    throw e2;
  }
  const e = new ValidationError(f.message);
  e.status = f.status;
  throw e;
}
