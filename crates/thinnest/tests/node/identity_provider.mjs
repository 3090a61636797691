// A real local identity provider for the integration tests (tests/api/support/identity.rs).
//
// - oauth2-mock-server: OpenID Connect discovery, JWKS, /authorize (which signs the
//   user in at once), /token (checking PKCE and binding the nonce to the code).
// - A GitHub-style REST API (`/user`, `/user/emails`) that accepts only access tokens
//   the provider issued.
// - `POST /control` on the API port: who signs in next, and what to tamper with
//   (`audience`, `nonce`, `expired`, `iss`, `signature`; `iss_own` names itself), so the tests can check
//   each refusal.
//
// Prints one JSON line {issuer, api} once both listen; exits when stdin closes.
import http from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';

const defaults = () => ({
  sub: 'subject-1',
  email: 'person@example.com',
  email_verified: true,
  github_id: 4242,
  github_emails: null,
  tamper: null,
});
let next = defaults();
const issued = new Set();

const provider = new OAuth2Server();
await provider.issuer.keys.generate('RS256');

provider.service.on('beforeTokenSigning', (token) => {
  const claims = token.payload;
  claims.sub = next.sub;
  // The ID token is the one with an audience and no scope.
  if (typeof claims.aud !== 'string' || 'scope' in claims) return;
  claims.email = next.email;
  claims.email_verified = next.email_verified;
  if (next.tamper === 'audience') claims.aud = 'another-client';
  if (next.tamper === 'nonce') claims.nonce = 'a-nonce-from-another-flow';
  if (next.tamper === 'expired') claims.exp = Math.floor(Date.now() / 1000) - 600;
});
provider.service.on('beforeResponse', (response) => {
  if (response.body.access_token) issued.add(response.body.access_token);
  if (next.tamper === 'signature' && response.body.id_token) {
    // Claims changed after signing: the signature no longer matches them.
    const [header, payload, signature] = response.body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.sub = 'someone-else';
    const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
    response.body.id_token = [header, forged, signature].join('.');
  }
});
provider.service.on('beforeAuthorizeRedirect', ({ url }) => {
  if (next.tamper === 'iss') url.searchParams.set('iss', 'https://another-issuer.example');
  if (next.tamper === 'iss_own') url.searchParams.set('iss', provider.issuer.url);
});
await provider.start(0, '127.0.0.1');

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const api = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/control') {
      next = { ...defaults(), ...JSON.parse(body || '{}') };
      return json(res, 200, next);
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !issued.has(auth.slice(7))) {
      return json(res, 401, { message: 'Bad credentials' });
    }
    if (req.url === '/user') return json(res, 200, { id: next.github_id, login: 'octo' });
    if (req.url === '/user/emails') {
      const emails = next.github_emails ?? [
        { email: 'secondary@example.com', primary: false, verified: true, visibility: null },
        { email: next.email, primary: true, verified: next.email_verified, visibility: 'private' },
      ];
      return json(res, 200, emails);
    }
    return json(res, 404, { message: 'Not Found' });
  });
});
await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));

console.log(JSON.stringify({
  issuer: provider.issuer.url,
  api: `http://127.0.0.1:${api.address().port}`,
}));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
