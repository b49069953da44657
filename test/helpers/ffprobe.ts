import { spawn } from 'node:child_process';

/** Runs ffprobe with JSON output on a file or URL; resolves with what it printed (killed after timeoutMs). */
export function ffprobe(args: string[], timeoutMs = 30_000): Promise<{ json: any; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ffprobe', ['-v', 'error', ...args, '-of', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve({ json: JSON.parse(out || '{}'), stderr: err });
    });
  });
}
