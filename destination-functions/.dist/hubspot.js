// hubspot destination function for Segment (Functions runtime, Node 20).
// Built from destination-functions/hubspot/index.ts by `referral-bridge functions build hubspot`; do not edit.
const HS_FRIEND_EVENTS = ["Referral Created", "Referred Friend Signed Up"];
const HS_BATCH_LIMIT = 100;
const HS_PROPERTIES_TTL_MS = 60 * 60 * 1e3;
const HS_TAG = "Referral Lead";
const HS_BATCH_BUDGET_MS = 4e3;
async function onIdentify(event, settings) {
  await hsDeliverOne(event, settings);
}
async function onTrack(event, settings) {
  await hsDeliverOne(event, settings);
}
async function onBatch(events, settings) {
  const results = events.map(() => ({ status: 200 }));
  const byEmail = /* @__PURE__ */ new Map();
  events.forEach((event, i) => {
    try {
      const item = hsItemFromEvent(event, settings);
      const seen = byEmail.get(item.email);
      if (seen) {
        Object.assign(seen.item.properties, item.properties);
        seen.indexes.push(i);
      } else byEmail.set(item.email, { item, indexes: [i] });
    } catch (err) {
      const e = err;
      results[i] = { status: 400, errormessage: `${e.name}: ${e.message}` };
    }
  });
  if (byEmail.size === 0) return results;
  const deadline = Date.now() + HS_BATCH_BUDGET_MS;
  const client = hsClient(settings);
  const groups = [...byEmail.values()];
  const apply = (group, r) => group.indexes.forEach((i) => results[i] = r);
  try {
    await hsEnsureProperties(client, settings);
  } catch (err) {
    const f = hsFailure(err);
    groups.forEach((g) => apply(g, hsItemResult(f)));
    return results;
  }
  for (let start = 0; start < groups.length; start += HS_BATCH_LIMIT) {
    const chunk = groups.slice(start, start + HS_BATCH_LIMIT);
    const outcomes = await hsUpsert(client, chunk.map((g) => g.item), deadline);
    chunk.forEach((g, j) => apply(g, outcomes[j] ? hsItemResult(outcomes[j]) : { status: 200 }));
  }
  return results;
}
function hsString(value) {
  if (value === void 0 || value === null) return void 0;
  const s = String(value).trim();
  return s === "" ? void 0 : s;
}
function hsItemFromEvent(event, settings) {
  const referralIdProperty = hsString(settings.referralIdProperty) ?? "referral_id";
  let source;
  let email;
  let friend;
  if (event.type === "identify") {
    source = event.traits ?? {};
    email = hsString(source.email);
    if (!email) throw new InvalidEventPayload("identify has no traits.email: HubSpot contacts are keyed on email");
    friend = source.referral_role === "friend" || hsString(source.referred_by) !== void 0;
  } else if (event.type === "track") {
    if (!HS_FRIEND_EVENTS.includes(event.event)) throw new EventNotSupported(`track "${event.event}" is not sent to HubSpot`);
    source = event.properties ?? {};
    email = hsString(source.friend_email);
    if (!email) throw new InvalidEventPayload(`${event.event} has no properties.friend_email: HubSpot contacts are keyed on email`);
    friend = true;
  } else {
    throw new EventNotSupported(`${event.type} is not sent to HubSpot`);
  }
  email = email.toLowerCase();
  const properties = { email };
  const set = (name, value) => {
    const v = hsString(value);
    if (v !== void 0) properties[name] = v;
  };
  set(referralIdProperty, source.referral_id);
  set("referral_advocate_email", source.referred_by ?? source.advocate_email);
  set("referral_code", source.referral_code ?? source.coupon_code);
  set("referral_source_platform", source.source_platform);
  set("firstname", source.first_name ?? source.firstName);
  set("lastname", source.last_name ?? source.lastName);
  if (friend) {
    properties.lifecyclestage = "lead";
    properties.hs_lead_status = "NEW";
    properties.referral_tag = HS_TAG;
  }
  return { email, properties };
}
const HS_DEFAULT_BASE_URL = "https://api.hubapi.com";
function hsClient(settings) {
  const accessToken = hsString(settings.accessToken);
  if (!accessToken) throw new ValidationError("accessToken setting is required (HubSpot private app token)");
  const base = (hsString(settings.baseUrl) ?? HS_DEFAULT_BASE_URL).replace(/\/+$/, "");
  const call = async (method, path, body) => {
    const headers = new Headers({ Authorization: `Bearer ${accessToken}`, Accept: "application/json" });
    if (body !== void 0) headers.set("Content-Type", "application/json");
    const res = await fetch(`${base}${path}`, { method, headers, ...body !== void 0 ? { body: JSON.stringify(body) } : {} });
    const text = await res.text();
    let parsed = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
    if (res.status >= 200 && res.status < 300) return parsed;
    const error = { code: res.status, body: parsed, headers: { ...res.headers.get("retry-after") ? { "retry-after": res.headers.get("retry-after") } : {} }, message: `HTTP ${res.status}` };
    throw error;
  };
  return {
    listContactProperties: () => call("GET", "/crm/v3/properties/contacts?archived=false"),
    createContactProperty: (def) => call("POST", "/crm/v3/properties/contacts", def),
    upsertContacts: (inputs) => call("POST", "/crm/v3/objects/contacts/batch/upsert", { inputs }),
    updateContact: (id, properties) => call("PATCH", `/crm/v3/objects/contacts/${encodeURIComponent(id)}`, { properties })
  };
}
async function hsEnsureProperties(client, settings) {
  const referralIdProperty = hsString(settings.referralIdProperty) ?? "referral_id";
  const tokenHash = crypto.createHash("sha256").update(String(settings.accessToken)).digest("hex").slice(0, 16);
  const key = `hubspot-properties:${hsString(settings.baseUrl) ?? "api.hubapi.com"}:${tokenHash}:${referralIdProperty}`;
  await cache.load(key, HS_PROPERTIES_TTL_MS, async () => {
    const text = (name, label, hasUniqueValue = false) => ({
      name,
      label,
      type: "string",
      fieldType: "text",
      groupName: "contactinformation",
      description: "Set by the referral-bridge HubSpot destination function",
      hasUniqueValue
    });
    const wanted = [
      text(referralIdProperty, "Referral ID", true),
      text("referral_advocate_email", "Referral advocate email"),
      text("referral_code", "Referral code"),
      text("referral_source_platform", "Referral source platform"),
      {
        ...text("referral_tag", "Referral tag"),
        type: "enumeration",
        fieldType: "select",
        options: [{ label: HS_TAG, value: HS_TAG, displayOrder: 0, hidden: false }]
      }
    ];
    const existing = await client.listContactProperties();
    const names = new Set(existing.results.map((p) => p.name));
    for (const def of wanted) {
      if (names.has(def.name)) continue;
      try {
        await client.createContactProperty(def);
      } catch (err) {
        if (hsFailure(err).status !== 409) throw err;
      }
    }
    return true;
  });
}
async function hsUpsert(client, items, deadline = Infinity) {
  if (Date.now() > deadline) {
    return items.map(() => ({ status: 503, message: "not sent: batch time budget used up before this contact; retry" }));
  }
  try {
    await client.upsertContacts(items.map((item) => ({ id: item.email, idProperty: "email", properties: item.properties })));
    return items.map(() => void 0);
  } catch (err) {
    const f = hsFailure(err);
    if ((f.status === 400 || f.status === 409) && items.length > 1) {
      const half = Math.ceil(items.length / 2);
      const left = await hsUpsert(client, items.slice(0, half), deadline);
      const right = await hsUpsert(client, items.slice(half), deadline);
      return [...left, ...right];
    }
    if (f.status === 409 && f.existingId) {
      try {
        await client.updateContact(f.existingId, items[0].properties);
        return [void 0];
      } catch (updateErr) {
        return [hsFailure(updateErr)];
      }
    }
    return items.map(() => f);
  }
}
function hsFailure(err) {
  const e = err;
  if (typeof e?.code !== "number") {
    const code = err?.code;
    return { status: 503, message: `network error talking to HubSpot: ${typeof code === "string" ? `${code} ` : ""}${e?.message ?? String(err)}` };
  }
  const body = e.body && typeof e.body === "object" ? e.body : {};
  const detail = [body.category, body.policyName, body.message].filter(Boolean).join(" ");
  const failure = { status: e.code, message: `HubSpot ${e.code}${detail ? ` ${detail}` : ""}` };
  const retryAfter = e.headers?.["retry-after"];
  if (retryAfter !== void 0) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1e3 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) failure.retryAfterMs = ms;
  }
  const existing = /Contact already exists\. Existing ID: (\d+)/.exec(String(body.message ?? ""));
  if (e.code === 409 && existing) failure.existingId = existing[1];
  return failure;
}
function hsItemResult(f) {
  return { status: f.status, errormessage: f.message, ...f.retryAfterMs !== void 0 ? { retryAfterMs: f.retryAfterMs } : {} };
}
function hsThrow(f) {
  if (f.status === 429 || f.status === 408 || f.status === 423 || f.status >= 500 && f.status !== 501) {
    const e2 = new RetryError(f.message);
    e2.status = f.status;
    if (f.retryAfterMs !== void 0) e2.retryAfterMs = f.retryAfterMs;
    throw e2;
  }
  if (f.status === 401 || f.status === 403) {
    const e2 = new ValidationError(`${f.message} (check the accessToken setting and the private app's scopes)`);
    e2.status = f.status;
    throw e2;
  }
  const e = new ValidationError(f.message);
  e.status = f.status;
  throw e;
}
async function hsDeliverOne(event, settings) {
  const item = hsItemFromEvent(event, settings);
  const client = hsClient(settings);
  try {
    await hsEnsureProperties(client, settings);
  } catch (err) {
    hsThrow(hsFailure(err));
  }
  const [failure] = await hsUpsert(client, [item]);
  if (failure) hsThrow(failure);
}
