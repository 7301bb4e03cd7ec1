// salesforce destination function for Segment (Functions runtime, Node 20).
// Built from destination-functions/salesforce/index.ts by `referral-bridge functions build salesforce`; do not edit.
const SF_FRIEND_EVENTS = ["Referral Created", "Referred Friend Signed Up"];
const SF_API_VERSION = "59.0";
const SF_EXTERNAL_ID = "Referral_ID__c";
const SF_PARALLEL = 6;
const SF_BATCH_BUDGET_MS = 4e3;
const SF_SESSION_TTL_MS = 50 * 60 * 1e3;
const SF_DEFAULT_COMPANY = "[not provided]";
const SF_DEFAULT_LAST_NAME = "[not provided]";
const SF_PERMANENT_CODES = [
  "REQUIRED_FIELD_MISSING",
  "INVALID_FIELD",
  "MALFORMED_ID",
  "DUPLICATE_VALUE",
  "DUPLICATES_DETECTED",
  "INVALID_EMAIL_ADDRESS",
  "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
  "INVALID_FIELD_FOR_INSERT_UPDATE",
  "FIELD_CUSTOM_VALIDATION_EXCEPTION",
  "STRING_TOO_LONG",
  "JSON_PARSER_ERROR",
  "INVALID_TYPE",
  "NOT_FOUND",
  "MULTIPLE_CHOICES",
  "INSUFFICIENT_ACCESS_OR_READONLY",
  "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
  "API_DISABLED_FOR_ORG",
  "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
];
const SF_RETRY_CODES = ["REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"];
const SF_NETWORK_CODES = ["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "EAI_AGAIN", "UND_ERR_SOCKET"];
async function onTrack(event, settings) {
  await sfDeliverOne(event, settings);
}
async function onIdentify(event, settings) {
  await sfDeliverOne(event, settings);
}
async function onBatch(events, settings) {
  const results = events.map(() => ({ status: 200 }));
  const byReferral = /* @__PURE__ */ new Map();
  events.forEach((event, i) => {
    try {
      const lead = sfLeadFromEvent(event);
      const seen = byReferral.get(lead.referralId);
      if (seen) {
        Object.assign(seen.lead.fields, lead.fields);
        seen.indexes.push(i);
      } else byReferral.set(lead.referralId, { lead, indexes: [i] });
    } catch (err) {
      const e = err;
      results[i] = { status: 400, errormessage: `${e.name}: ${e.message}` };
    }
  });
  if (byReferral.size === 0) return results;
  const groups = [...byReferral.values()];
  const apply = (group, r) => group.indexes.forEach((i) => results[i] = r);
  let conn;
  try {
    conn = await sfConnect(settings);
  } catch (err) {
    const f = sfFailure(err);
    groups.forEach((g) => apply(g, sfItemResult(f)));
    return results;
  }
  const deadline = Date.now() + SF_BATCH_BUDGET_MS;
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const group = groups[next++];
      if (Date.now() > deadline) {
        apply(group, { status: 503, errormessage: "not sent: batch time budget used up before this lead; retry" });
        continue;
      }
      const failure = await sfUpsert(conn, group.lead, settings);
      apply(group, failure ? sfItemResult(failure) : { status: 200 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(SF_PARALLEL, groups.length) }, worker));
  return results;
}
function sfString(value) {
  if (value === void 0 || value === null) return void 0;
  const s = String(value).trim();
  return s === "" ? void 0 : s;
}
function sfEmail(value) {
  const s = sfString(value);
  return s && s.includes("@") ? s.toLowerCase() : void 0;
}
function sfLeadFromEvent(event) {
  let source;
  let email;
  let advocateId;
  let advocateEmail;
  if (event.type === "identify") {
    source = event.traits ?? {};
    const friend = source.referral_role === "friend" || sfString(source.referred_by) !== void 0 || sfString(source.referral_id) !== void 0;
    if (!friend) throw new EventNotSupported("identify of a non-referred person: only referred friends become Salesforce Leads");
    email = sfEmail(source.email);
    advocateEmail = sfEmail(source.referred_by ?? source.advocate_email);
    advocateId = sfString(source.advocate_id) ?? advocateEmail;
  } else if (event.type === "track") {
    if (!SF_FRIEND_EVENTS.includes(event.event)) throw new EventNotSupported(`track "${event.event}" is not sent to Salesforce`);
    source = event.properties ?? {};
    email = sfEmail(source.friend_email);
    advocateEmail = sfEmail(source.advocate_email);
    advocateId = sfString(source.advocate_id) ?? advocateEmail;
  } else {
    throw new EventNotSupported(`${event.type} is not sent to Salesforce`);
  }
  const referralId = sfString(source.referral_id);
  if (!referralId) throw new InvalidEventPayload(`${event.type === "track" ? event.event : "identify"} has no referral_id: Leads are upserted on ${SF_EXTERNAL_ID}`);
  const fields = { LeadSource: "Referral" };
  const set = (name, value) => {
    if (value !== void 0) fields[name] = value;
  };
  set("Email", email);
  set("FirstName", sfString(source.first_name ?? source.firstName));
  set("LastName", sfString(source.last_name ?? source.lastName));
  set("Referral_Advocate_ID__c", advocateId);
  set("Referral_Advocate_Email__c", advocateEmail);
  set("Referral_Code__c", sfString(source.referral_code ?? source.coupon_code));
  return { referralId, fields };
}
function sfSettingsKey(settings) {
  const material = [settings.loginUrl, settings.clientId, settings.refreshToken, settings.instanceUrl, settings.accessToken].map((v) => String(v ?? "")).join("\0");
  return `salesforce-session:${crypto.createHash("sha256").update(material).digest("hex").slice(0, 24)}`;
}
async function sfConnect(settings) {
  const refreshToken = sfString(settings.refreshToken);
  const clientId = sfString(settings.clientId);
  const loginUrl = (sfString(settings.loginUrl) ?? "https://login.salesforce.com").replace(/\/+$/, "");
  const version = sfString(settings.apiVersion) ?? SF_API_VERSION;
  if (refreshToken) {
    if (!clientId) throw new ValidationError("clientId setting is required with refreshToken (the connected app consumer key)");
    const oauth2 = { clientId, clientSecret: sfString(settings.clientSecret), loginUrl, redirectUri: "http://localhost/unused" };
    const key = sfSettingsKey(settings);
    const session = await cache.load(key, SF_SESSION_TTL_MS, async () => {
      const oauth = new jsforce.OAuth2(oauth2);
      const res = await oauth.refreshToken(refreshToken);
      return { accessToken: res.access_token, instanceUrl: res.instance_url };
    });
    const conn = new jsforce.Connection({ oauth2, instanceUrl: session.instanceUrl, accessToken: session.accessToken, refreshToken, version });
    conn.on("refresh", (accessToken2) => {
      cache.delete(key);
      void cache.load(key, SF_SESSION_TTL_MS, () => ({ accessToken: accessToken2, instanceUrl: conn.instanceUrl }));
    });
    return conn;
  }
  const accessToken = sfString(settings.accessToken);
  const instanceUrl = sfString(settings.instanceUrl)?.replace(/\/+$/, "");
  if (!accessToken || !instanceUrl) {
    throw new ValidationError("settings need either refreshToken + clientId (+ clientSecret, loginUrl) or instanceUrl + accessToken");
  }
  return new jsforce.Connection({ instanceUrl, accessToken, version });
}
async function sfUpsert(conn, lead, settings) {
  const url = `/sobjects/Lead/${SF_EXTERNAL_ID}/${encodeURIComponent(lead.referralId)}`;
  const send = (fields) => conn.request({ method: "PATCH", url, body: JSON.stringify(fields), headers: { "content-type": "application/json" } });
  try {
    await send(lead.fields);
    return void 0;
  } catch (err) {
    const f = sfFailure(err);
    const defaults = {
      LastName: sfString(settings.defaultLastName) ?? SF_DEFAULT_LAST_NAME,
      Company: sfString(settings.defaultCompany) ?? SF_DEFAULT_COMPANY
    };
    const missing = f.fields ?? [];
    if (f.code !== "REQUIRED_FIELD_MISSING" || missing.length === 0 || !missing.every((name) => name in defaults)) return f;
    const fields = { ...lead.fields };
    for (const name of missing) if (fields[name] === void 0) fields[name] = defaults[name];
    try {
      await send(fields);
      return void 0;
    } catch (retryErr) {
      return sfFailure(retryErr);
    }
  }
}
function sfFailure(err) {
  const e = err;
  const message = e?.message ?? String(err);
  if (e?.name === "ValidationError") return { status: 400, kind: "settings", code: "SETTINGS", message };
  const code = String(e?.errorCode ?? e?.name ?? "UNKNOWN");
  const fields = Array.isArray(e?.data?.fields) ? e.data.fields : Array.isArray(e?.fields) ? e.fields : void 0;
  const label = `Salesforce ${code}: ${message}`;
  if (code === "INVALID_SESSION_ID") {
    return { status: 401, kind: "settings", code, message: `${label} (the session expired or is invalid; configure clientId/clientSecret/refreshToken so it can be refreshed)` };
  }
  if (/^invalid_(grant|client_id|client)$|^unsupported_grant_type$/.test(code) || /Unable to refresh session/.test(message)) {
    return { status: 401, kind: "settings", code, message: `Salesforce OAuth ${code}: ${message} (check clientId, clientSecret, refreshToken and loginUrl)` };
  }
  if (code === "REQUEST_LIMIT_EXCEEDED") return { status: 429, kind: "retry", code, message: label, retryAfterMs: 6e4 };
  if (SF_RETRY_CODES.includes(code)) return { status: 503, kind: "retry", code, message: label };
  if (SF_PERMANENT_CODES.includes(code)) return { status: 400, kind: "record", code, message: label, ...fields ? { fields } : {} };
  const http = /^ERROR_HTTP_(\d{3})$/.exec(code);
  if (http) {
    const status = Number(http[1]);
    const retry = status === 408 || status === 429 || status >= 500 && status !== 501;
    return { status, kind: retry ? "retry" : "record", code, message: `Salesforce HTTP ${status}: ${message.slice(0, 200)}` };
  }
  const network = e?.code ?? e?.cause?.code;
  if (e?.name === "FetchError" || network && SF_NETWORK_CODES.includes(network)) {
    return { status: 503, kind: "retry", code: network ?? "NETWORK", message: `network error talking to Salesforce: ${message}` };
  }
  return { status: 503, kind: "retry", code, message: `${label} (unclassified, retried)` };
}
function sfItemResult(f) {
  return { status: f.status, errormessage: f.message, ...f.retryAfterMs !== void 0 ? { retryAfterMs: f.retryAfterMs } : {} };
}
function sfThrow(f) {
  if (f.kind === "retry") {
    const e2 = new RetryError(f.message);
    e2.status = f.status;
    if (f.retryAfterMs !== void 0) e2.retryAfterMs = f.retryAfterMs;
    throw e2;
  }
  const e = new ValidationError(f.message);
  e.status = f.status;
  throw e;
}
async function sfDeliverOne(event, settings) {
  const lead = sfLeadFromEvent(event);
  let conn;
  try {
    conn = await sfConnect(settings);
  } catch (err) {
    sfThrow(sfFailure(err));
  }
  const failure = await sfUpsert(conn, lead, settings);
  if (failure) sfThrow(failure);
}
