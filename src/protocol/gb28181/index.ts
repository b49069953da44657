/**
 * GB/T 28181 MANSCDP layer: charset handling, typed parse/build of MESSAGE bodies, SN
 * allocation and the multi-MESSAGE aggregators, PTZCmd and the control-family bodies, and
 * MANSRTSP playback control. Sans-I/O throughout: the SIP worker feeds bytes and clock ticks
 * in and acts on the values that come out.
 */
export * from './charset.js';
export * from './manscdp.js';
export * from './sn.js';
export * from './catalog.js';
export * from './records.js';
export * from './ptz.js';
export * from './control.js';
export * from './mansrtsp.js';
export * from './cascade.js';
