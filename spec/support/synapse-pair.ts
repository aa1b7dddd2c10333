// A real Synapse and one of our servers side by side, for the interop specs:
// both started at once (Synapse serving the run's test certificate, so our
// server checks it like any other), both stopped afterwards, and the tail of
// both logs printed when a test fails.
import { startFederatedServer, type FederatedServer } from "./federation.ts";
import { startSynapse, type RunningSynapse } from "./synapse.ts";
import { testCertificates } from "./test-ca.ts";

export interface SynapsePair {
  synapse: RunningSynapse;
  ours: FederatedServer;
}

export async function startSynapsePair(startTimeoutMs: number): Promise<Partial<SynapsePair> & { error?: unknown }> {
  const certs = await testCertificates();
  const [peer, own] = await Promise.allSettled([
    startSynapse({ startTimeoutMs, config: { tls_certificate_path: certs.certPath, tls_private_key_path: certs.keyPath } }),
    startFederatedServer(),
  ]);
  const pair: Partial<SynapsePair> & { error?: unknown } = {};
  if (peer.status === "fulfilled") pair.synapse = peer.value;
  else pair.error = peer.reason;
  if (own.status === "fulfilled") pair.ours = own.value;
  else pair.error ??= own.reason;
  return pair;
}

export async function stopSynapsePair(pair: Partial<SynapsePair> | undefined): Promise<void> {
  await Promise.all([pair?.synapse?.stop(), pair?.ours?.destroy()]);
}

/** For an afterEach: the last log lines of both servers when the test failed. */
export function printLogsOnFailure(context: Mocha.Context, pair: Partial<SynapsePair> | undefined): void {
  if (context.currentTest?.state !== "failed" || !pair?.synapse) return;
  console.error(`--- last Synapse log lines ---\n${pair.synapse.logs().split("\n").slice(-40).join("\n")}`);
  for (const line of pair.ours?.logs().filter((l) => (l.level as number) >= 40).slice(-20) ?? []) console.error(JSON.stringify(line));
}
