/**
 * The demo's TLS upstream identity: a self-signed P-256 certificate for secure.localhost,
 * valid until 2126. It only ever serves the built-in demo upstream on loopback; it is public
 * on purpose and protects nothing.
 *
 * @module
 */

/** PEM certificate for secure.localhost. */
export const DEMO_CERT = `
-----BEGIN CERTIFICATE-----
MIIBqjCCAVCgAwIBAgIUHmAdFAJoGWZiluw9cuOwz2a+7vowCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQc2VjdXJlLmxvY2FsaG9zdDAgFw0yNjExMjYxNjM1MDVaGA8y
MTI2MTEwMjE2MzUwNVowGzEZMBcGA1UEAwwQc2VjdXJlLmxvY2FsaG9zdDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABPp7MHUtKogd46MDFZbq9vflmtijq6CruTrA
WeIQ5KvefBoR2UF+/rMvTVVNkZrOnngCTJyM2prdtU4koJ3kNbGjcDBuMB0GA1Ud
DgQWBBR4CTYe4q2veguW9L1txB2/ijDKMzAfBgNVHSMEGDAWgBR4CTYe4q2veguW
9L1txB2/ijDKMzAPBgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCEHNlY3VyZS5s
b2NhbGhvc3QwCgYIKoZIzj0EAwIDSAAwRQIgbr1SVm4Q7J7bywe7H8prQl0BjZLN
VbmseWvyj8XynTMCIQDHJ5Q80O1cSWnrUpK4FzhZbY0NkBsaZFf+l0wEqs8maA==
-----END CERTIFICATE-----
`;

/** PEM private key of DEMO_CERT. */
export const DEMO_KEY = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1pNvMD+2psGvmN94
bIMUZ06PsypGvGmN7ViJeylqJtWhRANCAAT6ezB1LSqIHeOjAxWW6vb35ZrYo6ug
q7k6wFniEOSr3nwaEdlBfv6zL01VTZGazp54AkycjNqa3bVOJKCd5DWx
-----END PRIVATE KEY-----
`;
