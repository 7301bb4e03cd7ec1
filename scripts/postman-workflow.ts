/**
 * The hand-kept half of the Postman collection: which requests run in which order (a workflow, not a list),
 * their example bodies, and their pre-request and test scripts. scripts/postman.ts joins this with the OpenAPI
 * document (method, path, auth, content type, descriptions), so the API shape has one source of truth and the
 * generator fails when an API operation has no request here or a request names an operation that no longer exists.
 *
 * Scripts run in Postman's sandbox (and newman's): `pm` and `require('crypto-js')` come from it
 * (learning.postman.com/docs/tests-and-scripts/write-scripts/postman-sandbox-reference/). They are ES2020 text in
 * TypeScript template strings: `${…}` is TypeScript's interpolation here, so the scripts concatenate strings instead.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export interface Step {
  /** The OpenAPI operation this request exercises, e.g. `POST /webhooks/shopify`; absent for sandbox calls. */
  operation?: string
  /** Sandbox control/state calls: not part of the bridge's API, sent to {{sandboxUrl}}. */
  sandbox?: { method: string; path: string }
  /** Unique in the collection. Default: the operation's summary. */
  name?: string
  /** Prepended to the operation's description. */
  description?: string
  pathVariables?: Record<string, string>
  query?: Array<{ key: string; value: string; description?: string }>
  headers?: Array<{ key: string; value: string }>
  /** false: no Authorization header although the operation has security (a request showing the refusal). */
  auth?: false
  body?: { raw: string; language?: 'json' | 'xml' | 'text' } | { urlencoded: Array<{ key: string; value: string }> }
  prerequest?: string
  /** Required: at least one pm.test. */
  test: string
  /** false: kept out of the runner (the run stops before it). Only at the end of the workflow. */
  runner?: false
}

export interface Folder {
  name: string
  description: string
  steps: Step[]
}

/** Dedent a script and drop the first/last blank lines. */
function js(text: string): string {
  const lines = text.replace(/^\n/, '').replace(/\n\s*$/, '').split('\n')
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length))
  return lines.map((l) => l.slice(indent)).join('\n')
}

/** Script pieces, one after the other. */
function script(...parts: string[]): string {
  return parts.join('\n')
}

// ---- shared script pieces ------------------------------------------------------------------------------------

/** Runs before every request (collection level): fresh values so each Send is a new event. */
export const collectionPrerequest = js(`
  // Fresh values for every request. Webhook bodies use them so that each Send is a new event (a platform never
  // resends an id with another body), and each signature is computed over the body with them filled in.
  pm.variables.set('uid', Date.now().toString(36) + Math.random().toString(36).slice(2, 8));
  pm.variables.set('nowMs', String(Date.now()));
  pm.variables.set('nowS', String(Math.floor(Date.now() / 1000)));
  pm.variables.set('nowIso', new Date().toISOString());
`)

/** Reads a secret named like the bridge's env var; the body exactly as it will be sent. */
const signingPrelude = js(`
  function secret(name) {
    const value = pm.variables.get(name);
    if (!value) throw new Error(name + ' is not set: select the "referral-bridge (local demo)" environment; the bridge must run with the same value (npm run demo)');
    return value;
  }
  // Postman's bundled crypto-js (the sandbox's require; the global CryptoJS is deprecated).
  const cryptoJs = require('crypto-js');
  // Variables are filled in before sending; the signature must cover exactly those bytes.
  const body = pm.variables.replaceIn(pm.request.body.raw);
`)

/** Shared-secret platforms sign nothing: the check only makes a missing secret a clear error. */
const sharedSecretCheck = (name: string) =>
  js(`
  // This platform signs nothing (see the description): the shared secret travels as configured.
  if (!pm.variables.get('${name}')) throw new Error('${name} is not set: select the "referral-bridge (local demo)" environment');
`)

/** The webhook answer: exactly 200 with {ok, stored, duplicates, ids}; the first id is kept for later requests. */
const accepted = (keep: string[] = []) =>
  js(`
  pm.test('200: committed', function () { pm.response.to.have.status(200); });
  const answer = pm.response.json();
  pm.test('answer is {ok, stored, duplicates, ids}', function () {
    pm.expect(answer.ok).to.equal(true);
    pm.expect(answer.ids).to.be.an('array').that.is.not.empty;
    pm.expect(answer.stored + answer.duplicates).to.equal(answer.ids.length);
  });
  pm.test('a new event: stored, not a duplicate', function () { pm.expect(answer.stored).to.be.above(0); });
  ${['lastEventId', ...keep].map((k) => `pm.collectionVariables.set('${k}', answer.ids[0]);`).join('\n  ')}
`)

/**
 * Delivery is asynchronous. In a run (newman, the Collection Runner) a request using this is sent again, 250 ms
 * apart, up to 80 times (20 s), until `ready`; the effect is asserted on the final answer. Sent by hand, the effect test
 * shows as skipped until it is ready: press Send again.
 */
const pollPrelude = js(`
  function sendAgainUnless(ready, what) {
    const key = 'attempts_' + pm.info.requestId;
    const attempts = Number(pm.collectionVariables.get(key) || 0);
    if (!ready && attempts < 80) {
      pm.collectionVariables.set(key, attempts + 1);
      pm.execution.setNextRequest(pm.info.requestId);
      pm.test.skip(what + ' (not yet: asking again)', function () {});
      setTimeout(function () {}, 250);
      return true;
    }
    pm.collectionVariables.unset(key);
    return false;
  }
`)

const finalJob = "['delivered', 'dead', 'ignored']"

// ---- bodies from the fixtures ----------------------------------------------------------------------------------

const FIXTURES = fileURLToPath(new URL('../test/fixtures', import.meta.url))

/** A fixture with fresh ids/emails/times: string values `{{x}}` stay strings, `num('x')` becomes a bare `{{x}}`. */
function fixtureBody(path: string, edit: (f: any) => void): string {
  const value = JSON.parse(readFileSync(`${FIXTURES}/${path}`, 'utf8'))
  edit(value)
  return JSON.stringify(value, null, 2).replace(/"#(\w+)#"/g, '{{$1}}')
}
const num = (variable: string) => `#${variable}#`

const referralcandyBody = fixtureBody('referralcandy/referred-purchase.json', (f) => {
  f.referral_email = 'friend-{{uid}}@example.com'
  f.referral_timestamp = num('nowS')
  f.referring_email = 'advocate-{{uid}}@example.com'
})

const rewardfulBody = fixtureBody('rewardful/referral.converted.json', (f) => {
  f.object.id = 'ref-{{uid}}'
  f.object.customer.email = 'friend-{{uid}}@example.com'
  f.object.customer.id = 'cus_{{uid}}'
  f.object.updated_at = '{{nowIso}}'
  f.event.id = 'evt-{{uid}}'
  f.event.created_at = '{{nowIso}}'
  f.request.id = 'req-{{uid}}'
})

const extoleBody = fixtureBody('extole/reward-earned.json', (f) => {
  f.event_id = 'evt{{uid}}'
  f.event_time = '{{nowIso}}'
  f.reward_id = 'rwd{{uid}}'
})

const firstpromoterBody = fixtureBody('firstpromoter/v2-referral-updated.json', (f) => {
  f.event_id = '{{uid}}'
  f.data.email = 'friend-{{uid}}@example.com'
  f.data.uid = 'user_{{uid}}'
  f.timestamp = '{{nowIso}}'
})

const friendbuyBody = fixtureBody('friendbuy/advocate-reward.json', (f) => {
  f.id = 'call-{{uid}}'
  f.data[0].rewardId = 'reward-{{uid}}'
  f.data[0].emailAddress = 'advocate-{{uid}}@example.com'
  f.data[0].createdOn = '{{nowIso}}'
  f.createdOn = '{{nowIso}}'
})

const growsurfBody = fixtureBody('growsurf/new-participant-added.json', (f) => {
  f.createdAt = num('nowMs')
  f.data.id = 'p{{uid}}'
  f.data.email = 'friend-{{uid}}@example.com'
  f.data.createdAt = num('nowMs')
})

const saasquatchBody = fixtureBody('saasquatch/referral-converted.json', (f) => {
  f.id = 'evt{{uid}}'
  f.created = num('nowMs')
  f.data.id = 'ref{{uid}}'
  f.data.dateConverted = num('nowMs')
})

const shopifyBody = fixtureBody('shopify/orders-create-test-notification.json', (f) => {
  f.id = num('nowMs')
  f.email = 'buyer-{{uid}}@example.com'
  f.created_at = '{{nowIso}}'
  f.updated_at = '{{nowIso}}'
})

const segmentBody = JSON.stringify(
  {
    type: 'track',
    event: 'Referred Friend Signed Up',
    messageId: 'ajs-{{uid}}',
    userId: 'friend-{{uid}}@example.com',
    timestamp: '{{nowIso}}',
    properties: { friend_email: 'friend-{{uid}}@example.com', advocate_email: 'advocate-{{uid}}@example.com', referral_code: 'ADV10' },
    context: { library: { name: 'analytics.js', version: '2.11.1' } }
  },
  null,
  2
)

const orderCompleted = (advocate: string) =>
  JSON.stringify(
    {
      type: 'order.completed',
      timestamp: '{{nowIso}}',
      data: { order_id: 'order-{{uid}}', revenue: '25.00', currency: 'USD', friend_email: 'friend-{{uid}}@example.com', advocate_id: `{{${advocate}}}`, referral_code: 'ADV10' }
    },
    null,
    2
  )

const salesforceBody = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{{SALESFORCE_ORGANIZATION_ID}}</OrganizationId>
   <ActionId>04k5g000000CaQwAAK</ActionId>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/59.0/00D5g000004XyZa</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/59.0/00D5g000004XyZa</PartnerUrl>
   <Notification>
    <Id>04l{{sfId}}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>006{{sfId}}</sf:Id>
     <sf:Amount>1250.50</sf:Amount>
     <sf:CurrencyIsoCode>USD</sf:CurrencyIsoCode>
     <sf:CloseDate>2026-11-20</sf:CloseDate>
     <sf:StageName>Closed Won</sf:StageName>
     <sf:IsWon>true</sf:IsWon>
     <sf:LastModifiedDate>{{nowIso}}</sf:LastModifiedDate>
     <sf:Referral_ID__c>referralcandy_{{uid}}</sf:Referral_ID__c>
     <sf:Referral_Advocate_ID__c>advocate-{{uid}}@example.com</sf:Referral_Advocate_ID__c>
     <sf:Referral_Advocate_Email__c>advocate-{{uid}}@example.com</sf:Referral_Advocate_Email__c>
     <sf:Referral_Code__c>ADV10</sf:Referral_Code__c>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>`

const talkablePayload = (() => {
  const payload = JSON.parse(readFileSync(`${FIXTURES}/talkable/referral.json`, 'utf8'))
  payload.referrer.id = num('nowMs')
  payload.referred_origin.id = num('nowMs')
  payload.referred_origin.email = 'friend-{{uid}}@example.com'
  payload.referred.email = 'friend-{{uid}}@example.com'
  payload.referred.person.email = 'friend-{{uid}}@example.com'
  return JSON.stringify(payload).replace(/"#(\w+)#"/g, '{{$1}}')
})()

/**
 * Standard Webhooks v1 (standard-webhooks/standard-webhooks spec/standard-webhooks.md): the key is the base64
 * after `whsec_`; the signature is base64 HMAC-SHA256(key, id + "." + timestamp + "." + body), sent as `v1,<sig>`.
 */
const standardSignature = js(`
  const webhookId = 'msg_' + pm.variables.get('uid');
  const webhookTimestamp = String(Math.floor(Date.now() / 1000));
  const key = cryptoJs.enc.Base64.parse(secret('STANDARD_WEBHOOK_SECRET').replace(/^whsec_/, ''));
  pm.variables.set('webhookId', webhookId);
  pm.variables.set('webhookTimestamp', webhookTimestamp);
  pm.variables.set('signature', 'v1,' + cryptoJs.HmacSHA256(webhookId + '.' + webhookTimestamp + '.' + body, key).toString(cryptoJs.enc.Base64));
`)

/** A plan change as marketing ops would propose it: the running Referral Created file plus one optional property. */
const proposedPlanFile = (() => {
  const text = readFileSync(fileURLToPath(new URL('../tracking-plan/events/referral-created.yaml', import.meta.url)), 'utf8')
  const anchor = '    properties:\n'
  if (!text.includes(anchor)) throw new Error('tracking-plan/events/referral-created.yaml: no "    properties:" line to add the proposed property under')
  return text.replace(anchor, anchor + '      demo_note:\n        type: string\n        description: "A note the Postman workflow proposes (optional)."\n        examples: [hello]\n')
})()

// ---- the workflow ------------------------------------------------------------------------------------------------

const json = (raw: string) => ({ raw, language: 'json' as const })

export const folders: Folder[] = [
  {
    name: '1. Operate',
    description: 'Is the bridge up, what does it serve. No credentials needed.',
    steps: [
      {
        operation: 'GET /healthz',
        test: js(`
          pm.test('200: store reachable', function () { pm.response.to.have.status(200); });
          const health = pm.response.json();
          pm.test('{status: ok, store, sandboxed}', function () {
            pm.expect(health.status).to.equal('ok');
            pm.expect(['sqlite', 'postgres']).to.include(health.store);
            pm.expect(health.sandboxed).to.be.an('array');
          });
          pm.test('the demo has no vendor credentials: HubSpot and the app webhook deliver to sandboxes', function () {
            pm.expect(health.sandboxed).to.include.members(['hubspot', 'app_webhook']);
          });
        `)
      },
      {
        operation: 'GET /openapi.json',
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const doc = pm.response.json();
          pm.test('OpenAPI 3.1 with a webhook path per source', function () {
            pm.expect(doc.openapi).to.equal('3.1.0');
            pm.expect(Object.keys(doc.paths).filter(function (p) { return p.indexOf('/webhooks/') === 0; })).to.have.length.above(0);
          });
        `)
      },
      {
        operation: 'GET /metrics',
        name: 'Prometheus metrics without the token: refused',
        description: 'The demo sets METRICS_TOKEN, so a scrape without `Authorization: Bearer {{METRICS_TOKEN}}` is refused.',
        auth: false,
        test: js(`
          pm.test('401', function () { pm.response.to.have.status(401); });
          pm.test('{error: unauthorized, message} and a Bearer challenge', function () {
            pm.expect(pm.response.json().error).to.equal('unauthorized');
            pm.expect(pm.response.json().message).to.include('METRICS_TOKEN');
            pm.expect(pm.response.headers.get('WWW-Authenticate')).to.equal('Bearer');
          });
          pm.test('no metrics in the answer', function () { pm.expect(pm.response.text()).to.not.include('# HELP'); });
        `)
      },
      {
        operation: 'GET /metrics',
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('Prometheus text format', function () { pm.expect(pm.response.text()).to.include('# HELP'); });
        `)
      },
      {
        operation: 'GET /console/',
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('an HTML page', function () { pm.expect(pm.response.headers.get('Content-Type')).to.include('text/html'); });
        `)
      }
    ]
  },
  {
    name: '2. Webhooks, one per platform (signed as the platform signs)',
    description:
      'Each request carries a fixture body (test/fixtures) with fresh ids and times, signed in its pre-request script exactly as the platform signs, with the secret from the environment variable named like the bridge\'s. Every one is answered 200.',
    steps: [
      {
        operation: 'POST /webhooks/ambassador',
        name: 'Ambassador: Contact Created (shared secret header)',
        headers: [{ key: 'X-Ambassador-Secret', value: '{{AMBASSADOR_WEBHOOK_SECRET}}' }],
        body: json(
          JSON.stringify(
            {
              event: 'Contact Created',
              id: 'evt-{{uid}}',
              created_at: '{{nowIso}}',
              short_code: 'ADV10',
              campaign_uid: 'campaign-1',
              ambassador: { email: 'advocate-{{uid}}@example.com', first_name: 'Ada', last_name: 'Advocate' },
              contact: { email: 'friend-{{uid}}@example.com', first_name: 'Fred' }
            },
            null,
            2
          )
        ),
        prerequest: sharedSecretCheck('AMBASSADOR_WEBHOOK_SECRET'),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/extole',
        name: 'Extole: reward_earned (hex HMAC-SHA256)',
        headers: [{ key: 'X-Extole-Signature', value: '{{signature}}' }],
        body: json(extoleBody),
        // Extole Security Center HS256 client key: lowercase hex HMAC-SHA256 over the exact body
        // (extole/product-docs webhooks/webhook-creation.mdx; src/sources/extole.ts).
        prerequest: script(signingPrelude, js(`
          pm.variables.set('signature', cryptoJs.HmacSHA256(body, secret('EXTOLE_WEBHOOK_SECRET')).toString(cryptoJs.enc.Hex));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/firstpromoter',
        name: 'FirstPromoter: referral.updated (shared secret bearer)',
        headers: [{ key: 'Authorization', value: 'Bearer {{FIRSTPROMOTER_WEBHOOK_SECRET}}' }],
        body: json(firstpromoterBody),
        prerequest: sharedSecretCheck('FIRSTPROMOTER_WEBHOOK_SECRET'),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/friendbuy',
        name: 'Friendbuy: advocateReward (base64 HMAC-SHA256)',
        headers: [{ key: 'X-Friendbuy-Hmac-SHA256', value: '{{signature}}' }],
        body: json(friendbuyBody),
        // Friendbuy: base64 HMAC-SHA256(secret key, raw body) (friendbuy/slate source/includes/_webhooks.md).
        prerequest: script(signingPrelude, js(`
          pm.variables.set('signature', cryptoJs.HmacSHA256(body, secret('FRIENDBUY_WEBHOOK_SECRET')).toString(cryptoJs.enc.Base64));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/growsurf',
        name: 'GrowSurf: NEW_PARTICIPANT_ADDED (timestamped HMAC-SHA256)',
        headers: [{ key: 'GrowSurf-Signature', value: '{{signature}}' }],
        body: json(growsurfBody),
        // GrowSurf: ts=<unix ms>,v=hex HMAC-SHA256(secret, ts + "." + body); ts within 5 minutes
        // (docs.growsurf.com/developer-tools/webhooks; their sample uses crypto-js as here).
        prerequest: script(signingPrelude, js(`
          const ts = String(Date.now());
          const v = cryptoJs.HmacSHA256(ts + '.' + body, secret('GROWSURF_WEBHOOK_SECRET')).toString(cryptoJs.enc.Hex);
          pm.variables.set('signature', 'ts=' + ts + ',v=' + v);
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/referralcandy',
        name: 'ReferralCandy: referred purchase (MD5 signature)',
        headers: [{ key: 'X-Referral-Candy-Signature', value: '{{signature}}' }],
        body: json(referralcandyBody),
        // ReferralCandy custom-reward webhook: hex MD5(API secret + raw body) (help.referralcandy.com).
        prerequest: script(signingPrelude, js(`
          pm.variables.set('signature', cryptoJs.MD5(secret('REFERRALCANDY_API_SECRET') + body).toString(cryptoJs.enc.Hex));
          pm.collectionVariables.set('referralcandyFriend', JSON.parse(body).referral_email);
        `)),
        test: accepted(['eventId'])
      },
      {
        operation: 'POST /webhooks/rewardful',
        name: 'Rewardful: referral.converted (hex HMAC-SHA256)',
        headers: [{ key: 'X-Rewardful-Signature', value: '{{signature}}' }],
        body: json(rewardfulBody),
        // Rewardful: hex HMAC-SHA256(signing secret, raw body) (developers.rewardful.com/webhooks).
        prerequest: script(signingPrelude, js(`
          pm.variables.set('signature', cryptoJs.HmacSHA256(body, secret('REWARDFUL_WEBHOOK_SECRET')).toString(cryptoJs.enc.Hex));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/mixpanel-cohorts',
        name: 'Mixpanel cohort sync: add_members (HTTP Basic auth)',
        description:
          'Mixpanel cohort sync to a custom webhook (docs.mixpanel.com/docs/cohort-sync/webhooks): `members`, `add_members` or `remove_members` with the members of one cohort. Mixpanel signs nothing; the connection\'s optional Basic auth password must equal MIXPANEL_COHORTS_WEBHOOK_PASSWORD. Each member becomes an identify with `mixpanel_cohort_<cohort id>` = true (false on remove_members), written to HubSpot and Klaviyo.',
        headers: [{ key: 'Authorization', value: '{{cohortAuthorization}}' }],
        body: json(JSON.stringify({
          action: 'add_members',
          parameters: {
            mixpanel_project_id: '4242',
            mixpanel_cohort_id: '98765',
            mixpanel_cohort_name: 'Top advocates',
            mixpanel_session_id: 'session-{{uid}}',
            page_info: { total_pages: 1, page_count: 0 },
            members: [{ email: 'advocate-{{uid}}@example.com', mixpanel_distinct_id: 'advocate-{{uid}}@example.com', first_name: 'Ada', last_name: 'Advocate' }]
          }
        }, null, 2)),
        prerequest: script(signingPrelude, js(`
          pm.variables.set('cohortAuthorization', 'Basic ' + cryptoJs.enc.Base64.stringify(cryptoJs.enc.Utf8.parse('mixpanel:' + secret('MIXPANEL_COHORTS_WEBHOOK_PASSWORD'))));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/saasquatch',
        name: 'SaaSquatch: referral.converted (RS256 detached JWS)',
        description:
          "SaaSquatch signs with its own RSA private key (RS256, detached JWS `HEADER..SIGNATURE` in X-Hook-JWS-RFC-7797, docs.saasquatch.com/api/webhooks/security); the bridge verifies with the public JWKS in SAASQUATCH_WEBHOOK_SECRET. Postman's CryptoJS has no RSA, so the pre-request script signs with a few lines of BigInt arithmetic (RSASSA-PKCS1-v1_5, RFC 8017 §8.2) using `saasquatchDemoPrivateJwk`, the private half of the demo JWKS. That key exists only for this demo: against a real tenant only SaaSquatch can sign, so replay a captured delivery instead.",
        headers: [{ key: 'X-Hook-JWS-RFC-7797', value: '{{signature}}' }],
        body: json(saasquatchBody),
        prerequest: script(signingPrelude, js(`
          const jwk = JSON.parse(secret('saasquatchDemoPrivateJwk'));
          function b64url(words) { return cryptoJs.enc.Base64.stringify(words).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''); }
          function bigint(b64urlText) {
            const b64 = b64urlText.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64urlText.length + 3) % 4);
            return BigInt('0x' + cryptoJs.enc.Base64.parse(b64).toString(cryptoJs.enc.Hex));
          }
          function modPow(base, exponent, modulus) {
            let result = 1n;
            base %= modulus;
            while (exponent > 0n) {
              if (exponent & 1n) result = (result * base) % modulus;
              exponent >>= 1n;
              base = (base * base) % modulus;
            }
            return result;
          }
          // SaaSquatch signs HEADER.base64url(body) (not vanilla base64, docs.saasquatch.com/api/webhooks/security).
          const header = b64url(cryptoJs.enc.Utf8.parse(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: jwk.kid })));
          const signingInput = header + '.' + b64url(cryptoJs.enc.Utf8.parse(body));
          // EMSA-PKCS1-v1_5 (RFC 8017 §9.2): 00 01 FF..FF 00 || DigestInfo(SHA-256) || hash, as long as the modulus.
          const n = bigint(jwk.n);
          const k = n.toString(16).length + 1 >> 1;
          const digestInfo = '3031300d060960864801650304020105000420' + cryptoJs.SHA256(signingInput).toString(cryptoJs.enc.Hex);
          const encoded = '0001' + 'ff'.repeat(k - 3 - digestInfo.length / 2) + '00' + digestInfo;
          const signature = modPow(BigInt('0x' + encoded), bigint(jwk.d), n).toString(16).padStart(2 * k, '0');
          pm.variables.set('signature', header + '..' + b64url(cryptoJs.enc.Hex.parse(signature)));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/salesforce',
        name: 'Salesforce: Outbound Message, Opportunity Closed Won (shared secret in URL)',
        headers: [{ key: 'SOAPAction', value: '""' }],
        query: [{ key: 'secret', value: '{{SALESFORCE_WEBHOOK_SECRET}}', description: 'Outbound Messages are not signed: the shared secret goes in the endpoint URL' }],
        body: { raw: salesforceBody, language: 'xml' },
        prerequest: script(sharedSecretCheck('SALESFORCE_WEBHOOK_SECRET'), js(`
          // A fresh 15-character Opportunity id (006 + 12) per Send; OrganizationId must equal SALESFORCE_ORGANIZATION_ID.
          pm.variables.set('sfId', ('000000000000' + Date.now().toString(36).toUpperCase()).slice(-12));
        `)),
        test: js(`
          pm.test('200: committed', function () { pm.response.to.have.status(200); });
          pm.test('the SOAP acknowledgement Salesforce expects', function () { pm.expect(pm.response.text()).to.include('<Ack>true</Ack>'); });
        `)
      },
      {
        operation: 'POST /webhooks/segment',
        name: 'Segment: Referred Friend Signed Up (hex HMAC-SHA1)',
        headers: [{ key: 'X-Signature', value: '{{signature}}' }],
        body: json(segmentBody),
        // Segment Webhooks destination: hex HMAC-SHA1(shared secret, raw body) (segment.com/docs/connections/destinations/catalog/webhooks).
        prerequest: script(signingPrelude, js(`
          pm.variables.set('signature', cryptoJs.HmacSHA1(body, secret('SEGMENT_WEBHOOK_SECRET')).toString(cryptoJs.enc.Hex));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/shopify',
        name: 'Shopify: orders/create (base64 HMAC-SHA256)',
        headers: [
          { key: 'X-Shopify-Hmac-Sha256', value: '{{signature}}' },
          { key: 'X-Shopify-Topic', value: 'orders/create' },
          { key: 'X-Shopify-Shop-Domain', value: 'demo-shop.myshopify.com' },
          { key: 'X-Shopify-API-Version', value: '2025-07' },
          { key: 'X-Shopify-Webhook-Id', value: '{{shopifyWebhookId}}' },
          { key: 'X-Shopify-Event-Id', value: '{{shopifyEventId}}' },
          { key: 'X-Shopify-Triggered-At', value: '{{nowIso}}' }
        ],
        body: json(shopifyBody),
        // Shopify: base64 HMAC-SHA256(app client secret, raw body) (shopify.dev/docs/apps/build/webhooks/verify-deliveries).
        prerequest: script(signingPrelude, js(`
          // Shopify's delivery headers (shopify.dev/docs/apps/build/webhooks/verify-deliveries): a fresh webhook and event id per Send.
          pm.variables.set('shopifyWebhookId', 'b54557e4-' + pm.variables.get('uid'));
          pm.variables.set('shopifyEventId', 'e-' + pm.variables.get('uid'));
          pm.variables.set('signature', cryptoJs.HmacSHA256(body, secret('SHOPIFY_WEBHOOK_SECRET')).toString(cryptoJs.enc.Base64));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/hubspot',
        name: 'HubSpot: deal.propertyChange (X-HubSpot-Signature-v3)',
        description:
          'A deal property change that is not a move to closed-won: acknowledged and stored as ignored. A `dealstage` change to `closedwon` makes the bridge read the deal from HubSpot (the demo\'s HubSpot sandbox has no such deal, so it is not sent here; see docs/hubspot.md).',
        headers: [
          { key: 'X-HubSpot-Signature-v3', value: '{{signature}}' },
          { key: 'X-HubSpot-Request-Timestamp', value: '{{nowMs}}' }
        ],
        body: json(JSON.stringify([{ eventId: '{{nowMs}}', subscriptionId: 1, portalId: 62515, appId: 1160452, occurredAt: '{{nowMs}}', subscriptionType: 'deal.propertyChange', attemptNumber: 0, objectId: 1, propertyName: 'dealname', propertyValue: 'Renewal', changeSource: 'CRM_UI' }], null, 2).replace(/"\{\{nowMs\}\}"/g, '{{nowMs}}')),
        // HubSpot v3: base64 HMAC-SHA256(client secret, method + URI + body + timestamp) (developers.hubspot.com/docs/api/webhooks/validating-requests).
        prerequest: script(signingPrelude, js(`
          const uri = pm.variables.replaceIn(pm.request.url.toString());
          const source = 'POST' + uri + body + pm.variables.get('nowMs');
          pm.variables.set('signature', cryptoJs.HmacSHA256(source, secret('HUBSPOT_CLIENT_SECRET')).toString(cryptoJs.enc.Base64));
        `)),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/standard',
        name: 'Standard Webhooks: order.completed, notifies the advocate (v1 HMAC-SHA256)',
        headers: [
          { key: 'webhook-id', value: '{{webhookId}}' },
          { key: 'webhook-timestamp', value: '{{webhookTimestamp}}' },
          { key: 'webhook-signature', value: '{{signature}}' }
        ],
        body: json(orderCompleted('advocateId')),
        prerequest: script(
          js(`
            pm.collectionVariables.set('advocateId', 'advocate-' + pm.variables.get('uid') + '@example.com');
          `),
          signingPrelude,
          standardSignature
        ),
        test: accepted()
      },
      {
        operation: 'POST /webhooks/talkable',
        name: 'Talkable: referral_web_hook (form key)',
        description: 'Talkable posts a form with its static `key` (no signature, no timestamp); `payload` is the referral sample with fresh ids.',
        body: {
          urlencoded: [
            { key: 'key', value: '{{TALKABLE_WEBHOOK_SECRET}}' },
            { key: 'site', value: 'demo-shop' },
            { key: 'type', value: 'referral_web_hook' },
            { key: 'extras', value: '{}' },
            { key: 'payload', value: talkablePayload }
          ]
        },
        prerequest: sharedSecretCheck('TALKABLE_WEBHOOK_SECRET'),
        test: accepted()
      }
    ]
  },
  {
    name: '3. Follow one event through',
    description: 'The ReferralCandy webhook of folder 2: its raw body, messages, jobs and attempts, then the contact in the HubSpot sandbox.',
    steps: [
      {
        operation: 'GET /admin/events/{id}',
        name: 'Event detail: the ReferralCandy webhook, delivered everywhere',
        description: 'Every webhook request keeps the first id of its answer in `lastEventId`: put `{{lastEventId}}` in the path to follow the webhook you sent last.',
        pathVariables: { id: '{{eventId}}' },
        test: script(pollPrelude, js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const detail = pm.response.json();
          pm.test('the webhook as received, and the messages made from it', function () {
            pm.expect(detail.inbox.id).to.equal(pm.collectionVariables.get('eventId'));
            pm.expect(detail.inbox.rawBody).to.be.a('string');
            pm.expect(detail.messages).to.be.an('array').that.is.not.empty;
          });
          const settled = detail.jobs.length > 0 && detail.jobs.every(function (j) { return ${finalJob}.indexOf(j.status) >= 0; });
          if (!sendAgainUnless(settled, 'every job delivered')) {
            pm.test('every job delivered', function () {
              pm.expect(detail.jobs.filter(function (j) { return j.status !== 'delivered'; }).map(function (j) { return j.destination + ': ' + j.status + ' ' + j.lastError; })).to.eql([]);
            });
          }
        `))
      },
      {
        operation: 'GET /admin/webhooks',
        name: "Webhook history: the ReferralCandy webhook, found by the friend's email",
        description: 'The console\'s search: `email` matches part of an address in the messages, `id` any inbox, message or job id.',
        query: [
          { key: 'source', value: 'referralcandy' },
          { key: 'since', value: '1h' },
          { key: 'email', value: '{{referralcandyFriend}}' }
        ],
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const webhooks = pm.response.json().webhooks;
          pm.test('{webhooks}', function () { pm.expect(webhooks).to.be.an('array'); });
          pm.test('exactly the webhook sent in folder 2, with its messages and people', function () {
            pm.expect(webhooks).to.have.length(1);
            pm.expect(webhooks[0].inboxId).to.equal(pm.collectionVariables.get('eventId'));
            pm.expect(webhooks[0].source).to.equal('referralcandy');
            pm.expect(webhooks[0].messages).to.be.an('array').that.is.not.empty;
            pm.expect(webhooks[0].people).to.include(pm.collectionVariables.get('referralcandyFriend').toLowerCase());
          });
        `)
      },
      {
        sandbox: { method: 'GET', path: 'hubspot/crm/v3/objects/contacts/:email' },
        name: 'HubSpot sandbox: the referred friend is a contact',
        description: 'Not the bridge\'s API: the HubSpot sandbox (src/sandboxes/hubspot.ts) the demo delivers to, read like HubSpot\'s CRM API (any bearer token).',
        pathVariables: { email: '{{referralcandyFriend}}' },
        query: [{ key: 'idProperty', value: 'email' }],
        headers: [{ key: 'Authorization', value: 'Bearer sandbox' }],
        test: js(`
          pm.test('200: the contact exists', function () { pm.response.to.have.status(200); });
          pm.test('with the friend\\'s email', function () { pm.expect(pm.response.json().properties.email).to.equal(pm.collectionVariables.get('referralcandyFriend')); });
        `)
      }
    ]
  },
  {
    name: "4. The advocate's in-app notifications",
    description: "The Standard Webhooks order of folder 2 names an advocate: the bridge stores a notification for them. The shop's app reads it and marks it read.",
    steps: [
      {
        operation: 'GET /api/advocates/{id}/notifications',
        pathVariables: { id: '{{advocateId}}' },
        test: script(pollPrelude, js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const page = pm.response.json();
          pm.test('{advocateId, unread, notifications}', function () {
            pm.expect(page.advocateId).to.equal(pm.collectionVariables.get('advocateId'));
            pm.expect(page.notifications).to.be.an('array');
          });
          if (!sendAgainUnless(page.notifications.length > 0, 'the friend\\'s purchase is notified')) {
            pm.test('the friend\\'s purchase is notified, unread', function () {
              pm.expect(page.notifications[0].kind).to.equal('friend_purchase');
              pm.expect(page.notifications[0].readAt).to.equal(null);
              pm.expect(page.unread).to.equal(1);
            });
            pm.collectionVariables.set('notificationId', page.notifications[0].id);
          }
        `))
      },
      {
        operation: 'POST /api/advocates/{id}/notifications/read',
        pathVariables: { id: '{{advocateId}}' },
        body: json(JSON.stringify({ ids: ['{{notificationId}}'] }, null, 2)),
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('one notification marked read, none unread', function () { pm.expect(pm.response.json()).to.eql({ marked: 1, unread: 0 }); });
        `)
      },
      {
        operation: 'GET /api/advocates/{id}/notifications',
        name: "An advocate's unread notifications: none left",
        pathVariables: { id: '{{advocateId}}' },
        query: [{ key: 'unread', value: '1' }],
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('nothing unread any more', function () {
            const page = pm.response.json();
            pm.expect(page.unread).to.equal(0);
            pm.expect(page.notifications).to.eql([]);
          });
        `)
      }
    ]
  },
  {
    name: '5. A dead letter, replayed',
    description:
      "Makes a real dead letter: once the app webhook queue is idle, the shop's app sandbox is told to refuse the next delivery with 400 (a permanent error for app_webhook), a purchase is sent, its app_webhook job dies; replaying it by id delivers it.",
    steps: [
      {
        operation: 'GET /admin/stats',
        name: 'Queue statistics: wait until no app_webhook job is in flight',
        test: script(pollPrelude, js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const stats = pm.response.json();
          pm.test('jobs per destination and status', function () { pm.expect(stats.jobs).to.be.an('array').that.is.not.empty; });
          const busy = stats.jobs.filter(function (j) { return j.destination === 'app_webhook' && ${finalJob}.indexOf(j.status) < 0; });
          if (!sendAgainUnless(busy.length === 0, 'app_webhook idle')) {
            pm.test('app_webhook idle (the fault below hits the next job)', function () { pm.expect(busy).to.eql([]); });
          }
        `))
      },
      {
        sandbox: { method: 'POST', path: 'app/_sandbox/faults' },
        name: "App sandbox: refuse the next webhook with 400",
        description: "Not the bridge's API: the fault switch every sandbox has (src/sandboxes/faults.ts).",
        body: json(JSON.stringify({ kind: 'status', status: 400, count: 1, pathContains: '/webhooks/referral-bridge', body: { error: 'bad_request', message: 'demo fault' } }, null, 2)),
        test: js(`
          pm.test('201: fault armed', function () { pm.response.to.have.status(201); });
          pm.test('one fault', function () { pm.expect(pm.response.json().faults).to.have.length(1); });
        `)
      },
      {
        operation: 'POST /webhooks/standard',
        name: 'Standard Webhooks: order.completed whose app webhook will be refused',
        headers: [
          { key: 'webhook-id', value: '{{webhookId}}' },
          { key: 'webhook-timestamp', value: '{{webhookTimestamp}}' },
          { key: 'webhook-signature', value: '{{signature}}' }
        ],
        body: json(orderCompleted('deadLetterAdvocate')),
        prerequest: script(
          js(`
            pm.collectionVariables.set('deadLetterAdvocate', 'advocate-' + pm.variables.get('uid') + '@example.com');
          `),
          signingPrelude,
          standardSignature
        ),
        test: accepted(['deadLetterEventId'])
      },
      {
        operation: 'GET /admin/dlq',
        name: 'List dead-lettered jobs: the refused app webhook',
        query: [
          { key: 'destination', value: 'app_webhook' },
          { key: 'source', value: 'standard' }
        ],
        test: script(pollPrelude, js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const jobs = pm.response.json().jobs;
          pm.test('{jobs}', function () { pm.expect(jobs).to.be.an('array'); });
          const dead = jobs.filter(function (j) { return j.inboxId === pm.collectionVariables.get('deadLetterEventId'); });
          if (!sendAgainUnless(dead.length > 0, 'the refused delivery is dead-lettered')) {
            pm.test('the refused delivery is dead-lettered with the 400', function () {
              pm.expect(dead).to.have.length(1);
              pm.expect(dead[0].status).to.equal('dead');
              pm.expect(dead[0].lastError).to.include('400');
            });
            pm.collectionVariables.set('deadJobId', dead[0].id);
          }
        `))
      },
      {
        operation: 'POST /admin/dlq/replay',
        body: json(JSON.stringify({ ids: ['{{deadJobId}}'] }, null, 2)),
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('the dead letter is queued again', function () { pm.expect(pm.response.json()).to.eql({ matched: 1, replayed: 1 }); });
        `)
      },
      {
        operation: 'GET /admin/events/{id}',
        name: 'Event detail: the replayed app webhook is delivered',
        pathVariables: { id: '{{deadLetterEventId}}' },
        test: script(pollPrelude, js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const detail = pm.response.json();
          const jobId = pm.collectionVariables.get('deadJobId');
          const job = detail.jobs.filter(function (j) { return j.id === jobId; })[0];
          pm.test('the replayed job is this event\\'s app_webhook job', function () { pm.expect(job.destination).to.equal('app_webhook'); });
          if (!sendAgainUnless(job.status === 'delivered', 'replayed and delivered')) {
            pm.test('refused with 400 (dead), then delivered by the replay', function () {
              const attempts = detail.attempts.filter(function (a) { return a.jobId === jobId; });
              pm.expect(attempts.map(function (a) { return a.outcome; })).to.eql(['dead', 'delivered']);
              pm.expect(attempts[0].statusCode).to.equal(400);
              pm.expect(job.status).to.equal('delivered');
            });
          }
        `))
      },
      {
        sandbox: { method: 'GET', path: 'app/_sandbox/webhooks' },
        name: "App sandbox: the shop's app received the replayed webhook",
        description: "Not the bridge's API: what the shop's app sandbox (src/sandboxes/app.ts) verified and received.",
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('the purchase reached the app once, signature verified', function () {
            const advocate = pm.collectionVariables.get('deadLetterAdvocate');
            const mine = pm.response.json().webhooks.filter(function (w) { return JSON.stringify(w.payload).indexOf(advocate) >= 0; });
            pm.expect(mine).to.have.length(1);
          });
        `)
      }
    ]
  },
  {
    name: '6. Quarantine and reports',
    description: 'What the tracking plan refused, re-checked; advocates ranked by Salesforce revenue (the Salesforce sandbox in the demo).',
    steps: [
      {
        operation: 'GET /admin/quarantine',
        query: [{ key: 'source', value: 'extole' }],
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('{items}', function () { pm.expect(pm.response.json().items).to.be.an('array'); });
        `)
      },
      {
        operation: 'POST /admin/quarantine/replay',
        body: json('{}'),
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('a summary of what was re-checked', function () {
            const summary = pm.response.json();
            pm.expect(summary.examined).to.be.a('number');
            pm.expect(summary.examined).to.equal(summary.routed + summary.stillQuarantined);
          });
        `)
      },
      {
        operation: 'GET /api/reports/advocates',
        query: [
          { key: 'since', value: '30d' },
          { key: 'format', value: 'json' }
        ],
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('a ranking with totals and the SOQL it ran', function () {
            const report = pm.response.json();
            pm.expect(report.advocates).to.be.an('array');
            pm.expect(report.totals).to.have.property('advocates');
            pm.expect(report.queries).to.be.an('array').that.is.not.empty;
          });
        `)
      }
    ]
  },
  {
    name: '7. The tracking plan',
    description:
      'What the console shows and checks: the catalogue of the running plan with recent counts, a proposed plan file checked (lint, diff, preview over the messages stored by this run) without writing anything, and a reload.',
    steps: [
      {
        operation: 'GET /admin/plan',
        query: [{ key: 'since', value: '1h' }],
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const catalogue = pm.response.json();
          const created = catalogue.entries.filter(function (e) { return e.name === 'Referral Created'; })[0];
          pm.test('{fingerprint, entries}: Referral Created with its versions and consumers', function () {
            pm.expect(catalogue.fingerprint).to.be.a('string').that.is.not.empty;
            pm.expect(created.kind).to.equal('track');
            pm.expect(created.currentVersion).to.be.a('number');
            pm.expect(created.versions).to.be.an('array').that.is.not.empty;
            pm.expect(created.consumers).to.be.an('array').that.is.not.empty;
          });
          pm.test('the webhooks of this run are counted', function () {
            pm.expect(catalogue.examined).to.be.above(0);
            const routed = catalogue.entries.reduce(function (n, e) { return n + e.recent.routed; }, 0);
            pm.expect(routed).to.be.above(0);
          });
          pm.collectionVariables.set('planFingerprint', catalogue.fingerprint);
        `)
      },
      {
        operation: 'POST /admin/plan/preview',
        name: 'Preview a plan change: Referral Created gains an optional property',
        description: 'The body is tracking-plan/events/referral-created.yaml with one optional property added (as marketing ops would propose it). Nothing is written: the running plan is unchanged.',
        body: json(JSON.stringify({ yaml: proposedPlanFile, since: '1h' }, null, 2)),
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          const result = pm.response.json();
          pm.test('lints clean, in place of events/referral-created.yaml', function () {
            pm.expect(result.path).to.equal('events/referral-created.yaml');
            pm.expect(result.errors).to.equal(0);
          });
          pm.test('diff: one addition, nothing breaking', function () {
            pm.expect(result.diff.ok).to.equal(true);
            pm.expect(result.diff.summary.addition).to.equal(1);
            pm.expect(result.diff.summary.breaking).to.equal(0);
          });
          pm.test('preview: the stored messages of this run still pass', function () {
            pm.expect(result.preview.examined).to.be.above(0);
            pm.expect(result.preview.newlyFailing).to.equal(0);
          });
        `)
      },
      {
        operation: 'POST /admin/plan/preview',
        name: 'Preview a plan change: not a plan file',
        body: json(JSON.stringify({ yaml: 'description: a file that names no event\n' }, null, 2)),
        test: js(`
          pm.test('422', function () { pm.response.to.have.status(422); });
          pm.test('{error: not_a_plan_file, message}', function () {
            const answer = pm.response.json();
            pm.expect(answer.error).to.equal('not_a_plan_file');
            pm.expect(answer.message).to.include('event:');
          });
        `)
      },
      {
        operation: 'POST /admin/plan/reload',
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('the files lint, nothing changed: the previews above wrote nothing', function () {
            const fingerprint = pm.collectionVariables.get('planFingerprint');
            pm.expect(pm.response.json()).to.eql({ ok: true, changed: false, previous: fingerprint, running: fingerprint });
          });
        `)
      }
    ]
  },
  {
    name: '8. No-code subscribers (REST Hooks for Zapier / Make)',
    description:
      'What a Zapier REST Hook trigger does when a Zap is turned on and off (docs/no-code.md): subscribe a target URL to a tracking-plan event, load sample data (the perform list), unsubscribe. No event is sent in between, so the placeholder URL is never called.',
    steps: [
      {
        operation: 'POST /api/hooks',
        body: json(JSON.stringify({ target_url: 'https://hooks.zapier.com/hooks/standard/demo/{{uid}}', event: 'Referral Created' }, null, 2)),
        test: js(`
          pm.test('201: subscribed', function () { pm.response.to.have.status(201); });
          const hook = pm.response.json();
          pm.test('{id, event, target_url}', function () {
            pm.expect(hook.id).to.be.a('string').that.is.not.empty;
            pm.expect(hook.event).to.equal('Referral Created');
          });
          pm.collectionVariables.set('hookId', hook.id);
        `)
      },
      {
        operation: 'GET /api/hooks/sample',
        query: [
          { key: 'event', value: 'Referral Created' },
          { key: 'limit', value: '3' }
        ],
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('recent Referral Created messages, each once', function () {
            const sample = pm.response.json();
            pm.expect(sample).to.be.an('array');
            pm.expect(sample.length).to.be.at.most(3);
            sample.forEach(function (m) { pm.expect(m.event).to.equal('Referral Created'); pm.expect(m.messageId).to.be.a('string'); });
            // Newest first by arrival at the bridge, not by the platform's event time (a replayed old event is new here).
            pm.expect(sample.map(function (m) { return m.messageId; })).to.have.members(sample.map(function (m) { return m.messageId; }).filter(function (id, i, all) { return all.indexOf(id) === i; }));
          });
        `)
      },
      {
        operation: 'DELETE /api/hooks/{id}',
        pathVariables: { id: '{{hookId}}' },
        test: js(`
          pm.test('200: unsubscribed', function () { pm.response.to.have.status(200); });
          pm.test('{id, deleted: true}', function () { pm.expect(pm.response.json()).to.eql({ id: pm.collectionVariables.get('hookId'), deleted: true }); });
        `)
      }
    ]
  },
  {
    name: '9. Live notifications (SSE, not run by the runner)',
    description:
      'A server-sent event stream stays open by design (a heartbeat comment every 15 s), so a run stops before it. Send it by hand: Postman shows each `event: notification` as it arrives (send a purchase from folder 2 meanwhile), then Cancel.',
    steps: [
      {
        operation: 'GET /api/advocates/{id}/notifications/stream',
        runner: false,
        pathVariables: { id: '{{advocateId}}' },
        headers: [{ key: 'Accept', value: 'text/event-stream' }],
        test: js(`
          pm.test('200', function () { pm.response.to.have.status(200); });
          pm.test('an event stream', function () { pm.expect(pm.response.headers.get('Content-Type')).to.include('text/event-stream'); });
        `)
      }
    ]
  }
]

