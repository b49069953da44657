/**
 * Versioned schema migrations. Append new entries; never edit an applied one.
 *
 * SQLite runs each migration and its `schema_migrations` row in one transaction
 * (SQLite DDL is transactional). MySQL commits DDL implicitly, so there every
 * statement is written to be re-runnable (`IF NOT EXISTS`, keys inline), and a
 * named lock keeps two processes from migrating at once.
 */
import type { Driver } from './driver.js';
import type { Dialect } from './types.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: string[];
  mysql: string[];
}

/**
 * Binary collation: `=`, `<`, `>` and ORDER BY compare code points, exactly as SQLite's
 * default BINARY collation does, so both backends answer a filter alike (and SIP
 * Call-IDs and tags, which are case-sensitive, compare exactly). Case-insensitive
 * matching is the `like` operator's job (filters.ts lowers both sides).
 */
const MYSQL_TABLE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';
const ID = 'VARCHAR(64)';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'devices, channels, streams, sys_info',
    sqlite: [
      `CREATE TABLE devices (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        deviceid TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        region TEXT NOT NULL DEFAULT '',
        host TEXT NOT NULL DEFAULT '',
        port INTEGER NOT NULL DEFAULT 0,
        transport TEXT NOT NULL DEFAULT '',
        rport INTEGER NOT NULL DEFAULT 0,
        raddr TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT '',
        manufacturer TEXT NOT NULL DEFAULT '',
        devicetype TEXT NOT NULL DEFAULT '',
        firmware TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        uri TEXT NOT NULL DEFAULT '',
        pwd TEXT NOT NULL DEFAULT '',
        online INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 0,
        regist INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER NULL,
        addtime INTEGER NOT NULL,
        uptime INTEGER NOT NULL,
        deltime INTEGER NULL
      )`,
      // Unique among alive rows only: a soft-deleted ID can be provisioned again.
      'CREATE UNIQUE INDEX devices_deviceid_alive ON devices (deviceid) WHERE deltime IS NULL',
      'CREATE INDEX devices_deltime ON devices (deltime)',
      `CREATE TABLE channels (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channelid TEXT NOT NULL,
        deviceid TEXT NOT NULL,
        memo TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL DEFAULT '',
        manufacturer TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        owner TEXT NOT NULL DEFAULT '',
        civilcode TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT '',
        parental INTEGER NOT NULL DEFAULT 0,
        parentid TEXT NOT NULL DEFAULT '',
        safetyway INTEGER NOT NULL DEFAULT 0,
        registerway INTEGER NOT NULL DEFAULT 0,
        secrecy INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT '',
        ptztype INTEGER NOT NULL DEFAULT 0,
        longitude REAL NULL,
        latitude REAL NULL,
        active INTEGER NOT NULL DEFAULT 0,
        uri TEXT NOT NULL DEFAULT '',
        vf TEXT NOT NULL DEFAULT '',
        height INTEGER NOT NULL DEFAULT 0,
        width INTEGER NOT NULL DEFAULT 0,
        fps INTEGER NOT NULL DEFAULT 0,
        streamtype TEXT NOT NULL DEFAULT 'push',
        url TEXT NOT NULL DEFAULT '',
        addtime INTEGER NOT NULL,
        uptime INTEGER NOT NULL,
        deltime INTEGER NULL
      )`,
      'CREATE UNIQUE INDEX channels_channelid_alive ON channels (channelid) WHERE deltime IS NULL',
      'CREATE INDEX channels_deviceid ON channels (deviceid, deltime)',
      'CREATE INDEX channels_deltime ON channels (deltime)',
      `CREATE TABLE streams (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        streamid TEXT NOT NULL,
        ssrc TEXT NOT NULL DEFAULT '',
        t INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL DEFAULT 'gb28181',
        deviceid TEXT NOT NULL DEFAULT '',
        channelid TEXT NOT NULL DEFAULT '',
        status INTEGER NOT NULL DEFAULT 0,
        start INTEGER NOT NULL DEFAULT 0,
        "end" INTEGER NOT NULL DEFAULT 0,
        callid TEXT NOT NULL DEFAULT '',
        from_tag TEXT NOT NULL DEFAULT '',
        to_tag TEXT NOT NULL DEFAULT '',
        cseq INTEGER NOT NULL DEFAULT 0,
        route TEXT NULL,
        remote_target TEXT NOT NULL DEFAULT '',
        media_host TEXT NOT NULL DEFAULT '',
        media_port INTEGER NOT NULL DEFAULT 0,
        media_transport TEXT NOT NULL DEFAULT '',
        media_server TEXT NOT NULL DEFAULT '',
        worker INTEGER NULL,
        reason TEXT NULL,
        urls TEXT NULL,
        stream INTEGER NOT NULL DEFAULT 0,
        addtime INTEGER NOT NULL,
        uptime INTEGER NOT NULL,
        closed_at INTEGER NULL
      )`,
      'CREATE INDEX streams_status ON streams (status, kind)',
      'CREATE INDEX streams_streamid ON streams (streamid)',
      'CREATE INDEX streams_channelid ON streams (channelid, status)',
      'CREATE INDEX streams_callid ON streams (callid)',
      'CREATE INDEX streams_addtime ON streams (addtime)',
      `CREATE TABLE sys_info (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        lid TEXT NOT NULL,
        region TEXT NOT NULL,
        did TEXT NOT NULL,
        dnum INTEGER NOT NULL DEFAULT 0,
        cid TEXT NOT NULL,
        cnum INTEGER NOT NULL DEFAULT 0,
        addtime INTEGER NOT NULL,
        uptime INTEGER NOT NULL
      )`,
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS devices (
        id BIGINT NOT NULL AUTO_INCREMENT,
        deviceid ${ID} NOT NULL,
        name VARCHAR(255) NOT NULL DEFAULT '',
        region VARCHAR(64) NOT NULL DEFAULT '',
        host VARCHAR(255) NOT NULL DEFAULT '',
        port INT NOT NULL DEFAULT 0,
        transport VARCHAR(16) NOT NULL DEFAULT '',
        rport INT NOT NULL DEFAULT 0,
        raddr VARCHAR(255) NOT NULL DEFAULT '',
        source VARCHAR(255) NOT NULL DEFAULT '',
        manufacturer VARCHAR(255) NOT NULL DEFAULT '',
        devicetype VARCHAR(255) NOT NULL DEFAULT '',
        firmware VARCHAR(255) NOT NULL DEFAULT '',
        model VARCHAR(255) NOT NULL DEFAULT '',
        uri VARCHAR(512) NOT NULL DEFAULT '',
        pwd VARCHAR(255) NOT NULL DEFAULT '',
        online TINYINT NOT NULL DEFAULT 0,
        active BIGINT NOT NULL DEFAULT 0,
        regist TINYINT NOT NULL DEFAULT 0,
        expires_at BIGINT NULL,
        addtime BIGINT NOT NULL,
        uptime BIGINT NOT NULL,
        deltime BIGINT NULL,
        -- MySQL has no partial indexes: NULL for deleted rows keeps the key unique among alive ones.
        deviceid_alive ${ID} GENERATED ALWAYS AS (IF(deltime IS NULL, deviceid, NULL)) STORED,
        PRIMARY KEY (id),
        UNIQUE KEY devices_deviceid_alive (deviceid_alive),
        KEY devices_deviceid (deviceid),
        KEY devices_deltime (deltime)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS channels (
        id BIGINT NOT NULL AUTO_INCREMENT,
        channelid ${ID} NOT NULL,
        deviceid ${ID} NOT NULL,
        memo VARCHAR(255) NOT NULL DEFAULT '',
        name VARCHAR(255) NOT NULL DEFAULT '',
        manufacturer VARCHAR(255) NOT NULL DEFAULT '',
        model VARCHAR(255) NOT NULL DEFAULT '',
        owner VARCHAR(255) NOT NULL DEFAULT '',
        civilcode VARCHAR(64) NOT NULL DEFAULT '',
        address VARCHAR(255) NOT NULL DEFAULT '',
        parental INT NOT NULL DEFAULT 0,
        parentid VARCHAR(255) NOT NULL DEFAULT '',
        safetyway INT NOT NULL DEFAULT 0,
        registerway INT NOT NULL DEFAULT 0,
        secrecy INT NOT NULL DEFAULT 0,
        status VARCHAR(32) NOT NULL DEFAULT '',
        ptztype INT NOT NULL DEFAULT 0,
        longitude DOUBLE NULL,
        latitude DOUBLE NULL,
        active BIGINT NOT NULL DEFAULT 0,
        uri VARCHAR(512) NOT NULL DEFAULT '',
        vf VARCHAR(32) NOT NULL DEFAULT '',
        height INT NOT NULL DEFAULT 0,
        width INT NOT NULL DEFAULT 0,
        fps INT NOT NULL DEFAULT 0,
        streamtype VARCHAR(16) NOT NULL DEFAULT 'push',
        url VARCHAR(2048) NOT NULL DEFAULT '',
        addtime BIGINT NOT NULL,
        uptime BIGINT NOT NULL,
        deltime BIGINT NULL,
        channelid_alive ${ID} GENERATED ALWAYS AS (IF(deltime IS NULL, channelid, NULL)) STORED,
        PRIMARY KEY (id),
        UNIQUE KEY channels_channelid_alive (channelid_alive),
        KEY channels_channelid (channelid),
        KEY channels_deviceid (deviceid, deltime),
        KEY channels_deltime (deltime)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS streams (
        id BIGINT NOT NULL AUTO_INCREMENT,
        streamid ${ID} NOT NULL,
        ssrc VARCHAR(16) NOT NULL DEFAULT '',
        t TINYINT NOT NULL DEFAULT 0,
        kind VARCHAR(16) NOT NULL DEFAULT 'gb28181',
        deviceid ${ID} NOT NULL DEFAULT '',
        channelid ${ID} NOT NULL DEFAULT '',
        status TINYINT NOT NULL DEFAULT 0,
        start BIGINT NOT NULL DEFAULT 0,
        \`end\` BIGINT NOT NULL DEFAULT 0,
        callid VARCHAR(255) NOT NULL DEFAULT '',
        from_tag VARCHAR(128) NOT NULL DEFAULT '',
        to_tag VARCHAR(128) NOT NULL DEFAULT '',
        cseq BIGINT NOT NULL DEFAULT 0,
        route TEXT NULL,
        remote_target VARCHAR(512) NOT NULL DEFAULT '',
        media_host VARCHAR(255) NOT NULL DEFAULT '',
        media_port INT NOT NULL DEFAULT 0,
        media_transport VARCHAR(16) NOT NULL DEFAULT '',
        media_server VARCHAR(255) NOT NULL DEFAULT '',
        worker INT NULL,
        reason VARCHAR(512) NULL,
        urls TEXT NULL,
        stream TINYINT NOT NULL DEFAULT 0,
        addtime BIGINT NOT NULL,
        uptime BIGINT NOT NULL,
        closed_at BIGINT NULL,
        PRIMARY KEY (id),
        KEY streams_status (status, kind),
        KEY streams_streamid (streamid),
        KEY streams_channelid (channelid, status),
        KEY streams_callid (callid),
        KEY streams_addtime (addtime)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS sys_info (
        id TINYINT NOT NULL,
        lid VARCHAR(32) NOT NULL,
        region VARCHAR(32) NOT NULL,
        did VARCHAR(32) NOT NULL,
        dnum INT NOT NULL DEFAULT 0,
        cid VARCHAR(32) NOT NULL,
        cnum INT NOT NULL DEFAULT 0,
        addtime BIGINT NOT NULL,
        uptime BIGINT NOT NULL,
        PRIMARY KEY (id)
      ) ${MYSQL_TABLE}`,
    ],
  },
  {
    version: 2,
    name: 'vehicles (JT/T 808 terminals)',
    sqlite: [
      `CREATE TABLE vehicles (
        sim TEXT NOT NULL PRIMARY KEY,
        plate TEXT NOT NULL DEFAULT '',
        plate_color INTEGER NOT NULL DEFAULT 0,
        manufacturer TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        terminal_id TEXT NOT NULL DEFAULT '',
        channels INTEGER NOT NULL DEFAULT 0,
        online INTEGER NOT NULL DEFAULT 0,
        address TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL DEFAULT '',
        auth_code TEXT NOT NULL DEFAULT '',
        latitude REAL NULL,
        longitude REAL NULL,
        speed REAL NOT NULL DEFAULT 0,
        direction INTEGER NOT NULL DEFAULT 0,
        position_time INTEGER NULL,
        av_attributes TEXT NULL,
        addtime INTEGER NOT NULL,
        uptime INTEGER NOT NULL
      )`,
      'CREATE INDEX vehicles_online ON vehicles (online)',
      'CREATE INDEX vehicles_plate ON vehicles (plate)',
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS vehicles (
        sim VARCHAR(20) NOT NULL,
        plate VARCHAR(64) NOT NULL DEFAULT '',
        plate_color INT NOT NULL DEFAULT 0,
        manufacturer VARCHAR(64) NOT NULL DEFAULT '',
        model VARCHAR(64) NOT NULL DEFAULT '',
        terminal_id VARCHAR(64) NOT NULL DEFAULT '',
        channels INT NOT NULL DEFAULT 0,
        online TINYINT NOT NULL DEFAULT 0,
        address VARCHAR(255) NOT NULL DEFAULT '',
        version VARCHAR(16) NOT NULL DEFAULT '',
        auth_code VARCHAR(64) NOT NULL DEFAULT '',
        latitude DOUBLE NULL,
        longitude DOUBLE NULL,
        speed DOUBLE NOT NULL DEFAULT 0,
        direction INT NOT NULL DEFAULT 0,
        position_time BIGINT NULL,
        av_attributes TEXT NULL,
        addtime BIGINT NOT NULL,
        uptime BIGINT NOT NULL,
        PRIMARY KEY (sim),
        KEY vehicles_online (online),
        KEY vehicles_plate (plate)
      ) ${MYSQL_TABLE}`,
    ],
  },
  {
    version: 3,
    name: 'upper platforms (GB28181 cascade), their shared channels, vehicle channel IDs',
    sqlite: [
      `CREATE TABLE platforms (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL DEFAULT '',
        serverid TEXT NOT NULL,
        domain TEXT NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL DEFAULT 5060,
        transport TEXT NOT NULL DEFAULT 'UDP',
        deviceid TEXT NOT NULL,
        pwd TEXT NOT NULL DEFAULT '',
        expires INTEGER NOT NULL DEFAULT 3600,
        keepalive_interval INTEGER NOT NULL DEFAULT 60,
        keepalive_timeouts INTEGER NOT NULL DEFAULT 3,
        charset TEXT NOT NULL DEFAULT 'GB2312',
        enabled INTEGER NOT NULL DEFAULT 1,
        share_cameras INTEGER NOT NULL DEFAULT 0,
        share_vehicles INTEGER NOT NULL DEFAULT 0,
        directories INTEGER NOT NULL DEFAULT 0,
        addtime INTEGER NOT NULL,
        uptime INTEGER NOT NULL
      )`,
      'CREATE UNIQUE INDEX platforms_serverid ON platforms (serverid)',
      `CREATE TABLE platform_channels (
        platform_id INTEGER NOT NULL,
        source TEXT NOT NULL,
        custom_id TEXT NULL,
        addtime INTEGER NOT NULL,
        PRIMARY KEY (platform_id, source)
      )`,
      'CREATE UNIQUE INDEX platform_channels_custom ON platform_channels (platform_id, custom_id)',
      `CREATE TABLE vehicle_channel_ids (
        sim TEXT NOT NULL,
        channel INTEGER NOT NULL,
        channelid TEXT NOT NULL,
        addtime INTEGER NOT NULL,
        PRIMARY KEY (sim, channel)
      )`,
      'CREATE UNIQUE INDEX vehicle_channel_ids_channelid ON vehicle_channel_ids (channelid)',
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS platforms (
        id BIGINT NOT NULL AUTO_INCREMENT,
        name VARCHAR(255) NOT NULL DEFAULT '',
        serverid ${ID} NOT NULL,
        domain VARCHAR(64) NOT NULL,
        host VARCHAR(255) NOT NULL,
        port INT NOT NULL DEFAULT 5060,
        transport VARCHAR(8) NOT NULL DEFAULT 'UDP',
        deviceid ${ID} NOT NULL,
        pwd VARCHAR(255) NOT NULL DEFAULT '',
        expires INT NOT NULL DEFAULT 3600,
        keepalive_interval INT NOT NULL DEFAULT 60,
        keepalive_timeouts INT NOT NULL DEFAULT 3,
        charset VARCHAR(16) NOT NULL DEFAULT 'GB2312',
        enabled TINYINT NOT NULL DEFAULT 1,
        share_cameras TINYINT NOT NULL DEFAULT 0,
        share_vehicles TINYINT NOT NULL DEFAULT 0,
        directories TINYINT NOT NULL DEFAULT 0,
        addtime BIGINT NOT NULL,
        uptime BIGINT NOT NULL,
        PRIMARY KEY (id),
        UNIQUE KEY platforms_serverid (serverid)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS platform_channels (
        platform_id BIGINT NOT NULL,
        source VARCHAR(96) NOT NULL,
        custom_id ${ID} NULL,
        addtime BIGINT NOT NULL,
        PRIMARY KEY (platform_id, source),
        UNIQUE KEY platform_channels_custom (platform_id, custom_id)
      ) ${MYSQL_TABLE}`,
      `CREATE TABLE IF NOT EXISTS vehicle_channel_ids (
        sim VARCHAR(20) NOT NULL,
        channel INT NOT NULL,
        channelid ${ID} NOT NULL,
        addtime BIGINT NOT NULL,
        PRIMARY KEY (sim, channel),
        UNIQUE KEY vehicle_channel_ids_channelid (channelid)
      ) ${MYSQL_TABLE}`,
    ],
  },
  {
    version: 4,
    name: 'alarms (GB28181 and JT/T 808), the devices\' last DeviceStatus',
    sqlite: [
      `CREATE TABLE alarms (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        deviceid TEXT NOT NULL,
        channelid TEXT NOT NULL DEFAULT '',
        priority INTEGER NULL,
        method INTEGER NULL,
        type INTEGER NULL,
        event_type INTEGER NULL,
        description TEXT NOT NULL DEFAULT '',
        flags TEXT NOT NULL DEFAULT '',
        alarm_time INTEGER NULL,
        latitude REAL NULL,
        longitude REAL NULL,
        addtime INTEGER NOT NULL
      )`,
      'CREATE INDEX alarms_addtime ON alarms (addtime)',
      'CREATE INDEX alarms_device ON alarms (deviceid, addtime)',
      'ALTER TABLE devices ADD COLUMN status TEXT NULL',
      'ALTER TABLE devices ADD COLUMN status_at INTEGER NULL',
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS alarms (
        id BIGINT NOT NULL AUTO_INCREMENT,
        kind VARCHAR(16) NOT NULL,
        deviceid VARCHAR(64) NOT NULL,
        channelid VARCHAR(64) NOT NULL DEFAULT '',
        priority INT NULL,
        method INT NULL,
        type INT NULL,
        event_type INT NULL,
        description VARCHAR(1024) NOT NULL DEFAULT '',
        flags VARCHAR(1024) NOT NULL DEFAULT '',
        alarm_time BIGINT NULL,
        latitude DOUBLE NULL,
        longitude DOUBLE NULL,
        addtime BIGINT NOT NULL,
        PRIMARY KEY (id),
        KEY alarms_addtime (addtime),
        KEY alarms_device (deviceid, addtime)
      ) ${MYSQL_TABLE}`,
      'ALTER TABLE devices ADD COLUMN status TEXT NULL, ADD COLUMN status_at BIGINT NULL',
    ],
  },
  {
    version: 5,
    name: 'operator-designed virtual directories of upper platforms; the directory a shared channel sits in',
    sqlite: [
      `CREATE TABLE platform_directories (
        platform_id INTEGER NOT NULL,
        dirid TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        parent_id TEXT NULL,
        position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (platform_id, dirid)
      )`,
      'ALTER TABLE platform_channels ADD COLUMN parent_id TEXT NULL',
    ],
    mysql: [
      `CREATE TABLE IF NOT EXISTS platform_directories (
        platform_id BIGINT NOT NULL,
        dirid ${ID} NOT NULL,
        name VARCHAR(255) NOT NULL DEFAULT '',
        parent_id ${ID} NULL,
        position INT NOT NULL DEFAULT 0,
        PRIMARY KEY (platform_id, dirid)
      ) ${MYSQL_TABLE}`,
      'ALTER TABLE platform_channels ADD COLUMN parent_id VARCHAR(64) NULL',
    ],
  },
];

const CREATE_LEDGER: Record<Dialect, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`,
  mysql: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT NOT NULL,
    name VARCHAR(255) NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (version)
  ) ${MYSQL_TABLE}`,
};

export async function appliedVersions(driver: Driver): Promise<number[]> {
  const rows = await driver.all('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((row) => Number(row.version));
}

/**
 * Applies every migration not yet recorded, in version order. Returns the versions
 * applied by this call (empty when the schema was current).
 */
export async function migrate(
  driver: Driver,
  now: () => number,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]!.version === ordered[i - 1]!.version) {
      throw new Error(`duplicate migration version ${ordered[i]!.version}`);
    }
  }
  return driver.withMigrationLock(async (exec) => {
    await exec.run(CREATE_LEDGER[exec.dialect]);
    const applied: number[] = [];
    for (const migration of ordered) {
      const done = await exec.transaction(async (tx) => {
        // Re-checked inside the transaction/lock: another process may have won.
        const seen = await tx.all('SELECT version FROM schema_migrations WHERE version = ?', [
          migration.version,
        ]);
        if (seen.length > 0) return false;
        for (const statement of migration[exec.dialect]) await tx.run(statement);
        await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
          migration.version,
          migration.name,
          now(),
        ]);
        return true;
      });
      if (done) applied.push(migration.version);
    }
    return applied;
  });
}
