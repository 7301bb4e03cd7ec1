// mailchimp destination function for Segment (Functions runtime, Node 20).
// Built from destination-functions/mailchimp/index.ts by `referral-bridge functions build mailchimp`; do not edit.
const MC_FRIEND_EVENTS = ["Referred Friend Signed Up", "Referral Created"];
const MC_LEAD_TAG = "Referral Lead";
const MC_ADVOCATE_TAG = "Referral Advocate";
const MC_STATUSES = ["pending", "subscribed", "transactional"];
async function onIdentify(event, settings) {
  const traits = event.traits ?? {};
  const email = mcEmail(traits.email);
  if (!email) throw new InvalidEventPayload("identify has no traits.email: Mailchimp members are keyed on email");
  const friend = traits.referral_role === "friend" || traits.referral_role !== "advocate" && mcString(traits.referred_by) !== void 0;
  const tag = friend ? MC_LEAD_TAG : traits.referral_role === "advocate" ? MC_ADVOCATE_TAG : void 0;
  await mcUpsert({ email, mergeFields: mcMergeFields(traits, traits.first_name ?? traits.firstName, traits.last_name ?? traits.lastName, settings), tag }, settings);
}
async function onTrack(event, settings) {
  if (!MC_FRIEND_EVENTS.includes(event.event)) throw new EventNotSupported(`track "${event.event}" is not sent to Mailchimp`);
  const p = event.properties ?? {};
  const email = mcEmail(p.friend_email);
  if (!email) throw new InvalidEventPayload(`${event.event} has no properties.friend_email: Mailchimp members are keyed on email`);
  await mcUpsert({ email, mergeFields: mcMergeFields(p, p.friend_first_name, void 0, settings), tag: MC_LEAD_TAG }, settings);
}
function mcString(value) {
  if (value === void 0 || value === null) return void 0;
  const s = String(value).trim();
  return s === "" ? void 0 : s;
}
function mcEmail(value) {
  const s = mcString(value);
  return s && s.includes("@") ? s.toLowerCase() : void 0;
}
function mcMergeFields(source, first, last, settings) {
  const out = {};
  const f = mcString(first);
  const l = mcString(last);
  if (f) out.FNAME = f;
  if (l) out.LNAME = l;
  const extra = settings.mergeFields && typeof settings.mergeFields === "object" ? settings.mergeFields : {};
  for (const [field, tag] of Object.entries(extra)) {
    const v = mcString(source[field]);
    const t = mcString(tag);
    if (v !== void 0 && t) out[t.toUpperCase()] = v;
  }
  return out;
}
function mcConfig(settings) {
  const apiKey = mcString(settings.apiKey);
  if (!apiKey) throw new ValidationError("apiKey setting is required (a Mailchimp API key, <key>-<dc>)");
  const listId = mcString(settings.listId);
  if (!listId) throw new ValidationError("listId setting is required (the audience id)");
  const statusIfNew = mcString(settings.statusIfNew) ?? "pending";
  if (!MC_STATUSES.includes(statusIfNew)) throw new ValidationError(`statusIfNew must be one of ${MC_STATUSES.join(", ")}, got "${statusIfNew}"`);
  let base = mcString(settings.baseUrl);
  if (!base) {
    const dc = /-([a-z]+[0-9]+)$/.exec(apiKey)?.[1];
    if (!dc) throw new ValidationError("apiKey must end in -<datacenter> (e.g. -us21), or set baseUrl");
    base = `https://${dc}.api.mailchimp.com`;
  }
  return { base: base.replace(/\/+$/, ""), auth: `Basic ${btoa(`referral-bridge:${apiKey}`)}`, listId, statusIfNew };
}
async function mcUpsert(member, settings) {
  const cfg = mcConfig(settings);
  const hash = crypto.createHash("md5").update(member.email.toLowerCase()).digest("hex");
  const path = `/3.0/lists/${encodeURIComponent(cfg.listId)}/members/${hash}`;
  await mcCall(cfg, "PUT", path, { email_address: member.email, status_if_new: cfg.statusIfNew, ...Object.keys(member.mergeFields).length ? { merge_fields: member.mergeFields } : {} });
  if (member.tag) await mcCall(cfg, "POST", `${path}/tags`, { tags: [{ name: member.tag, status: "active" }] });
}
async function mcCall(cfg, method, path, body) {
  let response;
  try {
    response = await fetch(`${cfg.base}${path}`, {
      method,
      headers: { Authorization: cfg.auth, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body)
    });
  } catch (err) {
    const e = err;
    throw new RetryError(`network error talking to Mailchimp: ${e?.code ?? e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err)}`);
  }
  if (response.status >= 200 && response.status < 300) {
    await response.text().catch(() => "");
    return;
  }
  mcThrow(await mcFailure(response), cfg.listId);
}
async function mcFailure(response) {
  const text = await response.text().catch(() => "");
  let problem = {};
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object") problem = parsed;
  } catch {
    problem = { detail: text.slice(0, 200) };
  }
  const fields = Array.isArray(problem.errors) ? problem.errors.map((e) => `${e.field ?? "?"}: ${e.message ?? ""}`).join("; ") : "";
  const detail = [problem.title, problem.detail, fields && `(${fields})`].filter(Boolean).join(" ");
  const failure = { status: response.status, message: `Mailchimp ${response.status}${detail ? ` ${detail}` : ""}` };
  const retryAfter = response.headers.get("retry-after");
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1e3 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) failure.retryAfterMs = ms;
  }
  return failure;
}
function mcThrow(f, listId) {
  if (f.status === 429 || f.status === 408 || f.status >= 500 && f.status !== 501) {
    const e2 = new RetryError(f.message);
    e2.status = f.status;
    if (f.retryAfterMs !== void 0) e2.retryAfterMs = f.retryAfterMs;
    throw e2;
  }
  if (f.status === 401 || f.status === 403) {
    const e2 = new ValidationError(`${f.message} (check the apiKey setting and its -<dc> suffix)`);
    e2.status = f.status;
    throw e2;
  }
  if (f.status === 404) {
    const e2 = new ValidationError(`${f.message} (check the listId setting: audience "${listId}")`);
    e2.status = f.status;
    throw e2;
  }
  const e = new ValidationError(f.message);
  e.status = f.status;
  throw e;
}
