import t from 'tap';
import iconv from 'iconv-lite';
import { canonicalCharset, decodeXmlBody, encodeXmlBody, parseManscdp, type CatalogMessage } from '../../../src/protocol/gb28181/index.js';
import { CAMERA_ID, sippBody } from './fixtures/sipp-bodies.js';

const CHINESE_NAME = '大门摄像机';
/** The sipp Catalog body with Chinese text where devices put it. */
const catalogText = sippBody('gb_device_ooc.xml', 'Catalog').replace('sipp-camera-1', CHINESE_NAME).replace('<Address>loopback</Address>', '<Address>一号楼東門𠀀</Address>');
const withoutDeclaration = catalogText.replace(/^<\?xml[^>]*\?>\s*/, '');

function catalog(bytes: Uint8Array, contentType?: string): CatalogMessage {
  const r = parseManscdp(bytes, contentType);
  if (!r.ok || r.message.kind !== 'catalog') throw new Error(r.ok ? r.message.kind : r.reason);
  return r.message;
}

t.test('canonicalCharset', async (t) => {
  for (const label of ['GB2312', 'gb2312', 'GBK', 'gbk', 'GB18030', 'cp936', ' "GB2312" ']) t.equal(canonicalCharset(label), 'GB18030', label);
  for (const label of ['UTF-8', 'utf8', 'Utf-8']) t.equal(canonicalCharset(label), 'UTF-8', label);
  t.equal(canonicalCharset('ISO-8859-1'), 'ISO-8859-1');
  for (const label of [undefined, '', 'US-ASCII', 'x-no-such-charset']) t.equal(canonicalCharset(label), undefined, String(label));
});

t.test('GB2312 bytes with the declaration', async (t) => {
  t.ok(withoutDeclaration.startsWith('<Response>'));
  const bytes = iconv.encode(catalogText, 'gb18030'); // 𠀀 needs GB18030's 4-byte form
  const d = decodeXmlBody(bytes);
  t.same([d.charset, d.source, d.mislabelled], ['GB18030', 'declaration', false]);
  const m = catalog(bytes);
  t.equal(m.items[0]!.name, CHINESE_NAME);
  t.equal(m.items[0]!.address, '一号楼東門𠀀', 'GBK (東) and GB18030-only (𠀀) characters under a GB2312 label');
  t.equal(m.items[0]!.deviceId, CAMERA_ID);
});

t.test('GB2312 bytes without a declaration: Content-Type charset, else detection', async (t) => {
  const bytes = iconv.encode(withoutDeclaration, 'gb2312');
  t.same(decodeXmlBody(bytes, 'GB2312').source, 'content-type');
  t.same(decodeXmlBody(bytes, 'Application/MANSCDP+xml; charset=gbk').source, 'content-type', 'a whole Content-Type value works');
  t.same([decodeXmlBody(bytes).charset, decodeXmlBody(bytes).source], ['GB18030', 'detected']);
  t.same([decodeXmlBody(bytes, 'Application/MANSCDP+xml').source], ['detected'], 'Content-Type without charset');
  t.equal(catalog(bytes).items[0]!.name, CHINESE_NAME);
  t.equal(catalog(bytes, 'GB2312').items[0]!.name, CHINESE_NAME);
});

t.test('UTF-8: declared, undeclared, with BOM, and declaration beating Content-Type', async (t) => {
  const declared = Buffer.from(catalogText.replace('encoding="GB2312"', 'encoding="UTF-8"'), 'utf8');
  t.same([decodeXmlBody(declared).charset, decodeXmlBody(declared).source], ['UTF-8', 'declaration']);
  t.equal(catalog(declared, 'GB2312').items[0]!.name, CHINESE_NAME);
  const bare = Buffer.from(withoutDeclaration, 'utf8');
  t.same([decodeXmlBody(bare).charset, decodeXmlBody(bare).source], ['UTF-8', 'detected']);
  t.equal(catalog(bare).items[0]!.name, CHINESE_NAME);
  const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), iconv.encode(catalogText, 'utf8')]);
  const d = decodeXmlBody(bom);
  t.same([d.charset, d.source, d.text.startsWith('<?xml')], ['UTF-8', 'bom', true], 'BOM wins over the GB2312 declaration and is stripped');
  t.equal(catalog(bom).items[0]!.name, CHINESE_NAME);
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(withoutDeclaration, 'utf16le')]);
  t.equal(catalog(utf16).items[0]!.name, CHINESE_NAME, 'UTF-16LE with BOM');
});

t.test('a UTF-16 declaration readable as ASCII is ignored', async (t) => {
  const bytes = iconv.encode(catalogText.replace('encoding="GB2312"', 'encoding="UTF-16"'), 'gb2312');
  t.same([decodeXmlBody(bytes).charset, decodeXmlBody(bytes).source], ['GB18030', 'detected']);
  t.equal(catalog(bytes).items[0]!.name, CHINESE_NAME);
});

t.test('mislabelled: declared GB2312 but the bytes are UTF-8', async (t) => {
  const bytes = Buffer.from(catalogText, 'utf8');
  const d = decodeXmlBody(bytes);
  t.same([d.charset, d.source, d.mislabelled], ['UTF-8', 'detected', true]);
  t.equal(catalog(bytes).items[0]!.name, CHINESE_NAME);
  // The other direction is not second-guessed: a UTF-8 label on GB bytes stays UTF-8 (U+FFFD).
  const gbUnderUtf8 = iconv.encode(catalogText.replace('encoding="GB2312"', 'encoding="UTF-8"'), 'gb2312');
  const wrong = catalog(gbUnderUtf8);
  t.match(wrong.items[0]!.name, /\uFFFD/, 'GB bytes under a UTF-8 label decode with replacement characters, not an error');
  // A single GB character that happens to be a valid 2-byte UTF-8 sequence is NOT taken as UTF-8.
  const ambiguous = iconv.encode('<Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>1</DeviceID><DeviceName>通</DeviceName></Response>', 'gb2312');
  t.same([...iconv.encode('通', 'gb2312')], [0xcd, 0xa8]);
  t.equal(new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xcd, 0xa8])), '\u0368', '通 in GB2312 is valid UTF-8 for U+0368');
  const r = parseManscdp(ambiguous);
  t.ok(r.ok && r.message.kind === 'deviceInfo' && r.message.deviceName === '通', 'undeclared: decoded as GB18030');
  const r2 = parseManscdp(ambiguous, 'GB2312');
  t.ok(r2.ok && r2.message.kind === 'deviceInfo' && r2.message.deviceName === '通', 'GB2312 label kept');
});

t.test('control characters and stray bytes are tolerated', async (t) => {
  const dirty = catalogText.replace('<Address>一号楼東門𠀀</Address>', '<Address>A\u0001B\u0000C\u001fD\tE</Address>') + '\u0000\u0000\u0000';
  const m = catalog(iconv.encode(dirty, 'gb18030'));
  t.equal(m.items[0]!.address, 'ABCD\tE', 'C0 controls except tab/CR/LF removed; trailing NUL padding gone');
  t.equal(m.items.length, 2);

  // A stray 0xFF (never valid in GB18030 or UTF-8) inside a GB2312 name.
  const gbBytes = iconv.encode(catalogText, 'gb18030');
  const at = gbBytes.indexOf(Buffer.from('>Owner<')) + 1;
  const stray = Buffer.concat([gbBytes.subarray(0, at), Buffer.from([0xff]), gbBytes.subarray(at)]);
  const s = catalog(stray);
  t.equal(s.items[0]!.name, CHINESE_NAME, 'the rest of the body is intact');
  t.equal(s.items[0]!.owner, '\uFFFDOwner');

  // A stray byte in a UTF-8 body: the declaration is kept, only that byte is replaced.
  const utf8 = Buffer.from(catalogText.replace('encoding="GB2312"', 'encoding="UTF-8"'), 'utf8');
  const uAt = utf8.indexOf(Buffer.from('>Owner<')) + 1;
  const u = catalog(Buffer.concat([utf8.subarray(0, uAt), Buffer.from([0xfe]), utf8.subarray(uAt)]));
  t.equal(u.items[0]!.name, CHINESE_NAME);
  t.equal(u.items[0]!.owner, '\uFFFDOwner');

  t.same(decodeXmlBody(new Uint8Array([])), { text: '', charset: 'UTF-8', source: 'detected', mislabelled: false });
  t.equal(decodeXmlBody(new Uint8Array([0xef, 0xbb])).charset, 'GB18030', 'truncated BOM is just bytes');
});

t.test('encodeXmlBody', async (t) => {
  const doc = '<?xml version="1.0" encoding="GB2312"?>\n<Query><Name>大门摄像机</Name></Query>';
  t.same(Buffer.from(encodeXmlBody(doc)), iconv.encode(doc, 'gb2312'), 'GB2312 bytes by default');
  t.equal(iconv.decode(Buffer.from(encodeXmlBody(doc, 'GBK')), 'gbk'), doc, 'declaration kept within the GB family');
  const utf8 = Buffer.from(encodeXmlBody(doc, 'UTF-8')).toString('utf8');
  t.equal(utf8, doc.replace('GB2312', 'UTF-8'), 'declaration rewritten when encoding UTF-8');
  t.equal(Buffer.from(encodeXmlBody('<Query/>', 'utf-8')).toString('utf8'), '<Query/>', 'no declaration: nothing to rewrite');
  t.equal(iconv.decode(Buffer.from(encodeXmlBody('𠀀', 'GB2312')), 'gb18030'), '𠀀', 'characters outside GB2312 survive via GB18030');
  t.throws(() => encodeXmlBody(doc, 'no-such-charset'), TypeError);
});
