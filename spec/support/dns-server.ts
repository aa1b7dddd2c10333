// A small authoritative DNS server on UDP for tests (RFC 1035 wire format):
// A, AAAA and SRV answers from a table the test controls, NXDOMAIN for
// unknown names, and a log of the questions asked. Servers under test reach
// it through federation.dns_servers.
import { createSocket, type Socket } from "node:dgram";

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface DnsRecords {
  A?: string[];
  AAAA?: string[];
  SRV?: SrvRecord[];
}

export interface TestDnsServer {
  /** "127.0.0.1:<port>", as federation.dns_servers takes it. */
  address: string;
  records: Map<string, DnsRecords>;
  /** Questions asked, as "TYPE name". */
  questions: string[];
  close(): Promise<void>;
}

const TYPES: Record<number, keyof DnsRecords> = { 1: "A", 28: "AAAA", 33: "SRV" };
const TTL = 60;

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    const length = msg[at]!;
    if (length === 0) return { name: labels.join("."), end: at + 1 };
    labels.push(msg.toString("ascii", at + 1, at + 1 + length));
    at += 1 + length;
  }
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, "").split(".").filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "ascii")])), Buffer.from([0])]);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || "0", 16), i * 2));
  return out;
}

function rdata(type: keyof DnsRecords, value: string | SrvRecord): Buffer {
  if (type === "A") return Buffer.from((value as string).split(".").map(Number));
  if (type === "AAAA") return ipv6Bytes(value as string);
  const srv = value as SrvRecord;
  const head = Buffer.alloc(6);
  head.writeUInt16BE(srv.priority, 0);
  head.writeUInt16BE(srv.weight, 2);
  head.writeUInt16BE(srv.port, 4);
  return Buffer.concat([head, encodeName(srv.target)]);
}

function answer(query: Buffer, records: Map<string, DnsRecords>, questions: string[]): Buffer {
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const type = TYPES[qtype];
  questions.push(`${type ?? qtype} ${name.toLowerCase()}`);
  const entry = records.get(name.toLowerCase());
  const values: Array<string | SrvRecord> = entry && type ? (entry[type] ?? []) : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, AA, and RD copied; rcode 3 (NXDOMAIN) for unknown names.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (entry ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(values.length, 6);
  const question = query.subarray(12, end + 4);
  const answers = values.map((value) => {
    const data = rdata(type!, value);
    const fixed = Buffer.alloc(12);
    fixed.writeUInt16BE(0xc00c, 0);
    fixed.writeUInt16BE(qtype, 2);
    fixed.writeUInt16BE(1, 4);
    fixed.writeUInt32BE(TTL, 6);
    fixed.writeUInt16BE(data.length, 10);
    return Buffer.concat([fixed, data]);
  });
  return Buffer.concat([header, question, ...answers]);
}

export async function startDnsServer(records: Record<string, DnsRecords> = {}): Promise<TestDnsServer> {
  const socket: Socket = createSocket("udp4");
  const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v]));
  const questions: string[] = [];
  socket.on("message", (msg, peer) => {
    try {
      socket.send(answer(msg, table, questions), peer.port, peer.address);
    } catch {
      // A malformed query gets no answer, as from a real server under load.
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  return {
    address: `127.0.0.1:${port}`,
    records: table,
    questions,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

