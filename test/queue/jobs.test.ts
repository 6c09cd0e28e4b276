import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkpointPath, failureReason, removeStaleTemporaries } from '../../src/queue/jobs.js';
import { tempDir } from '../helpers.js';

describe("a queue job's files and failures", () => {
  it("BullMQ's cryptic reasons are said in the queue's words, keeping the original", () => {
    assert.equal(
      failureReason('Unexpected exit code: null signal: SIGKILL'),
      'the process running the job was killed (SIGKILL): out of memory? (Unexpected exit code: null signal: SIGKILL)',
    );
    assert.match(
      failureReason('Unexpected exit code: 3 signal: null'),
      /^the process running the job exited with code 3/,
    );
    assert.equal(
      failureReason('job stalled more than allowable limit'),
      'its worker was lost 4 times (job stalled more than allowable limit)',
    );
    assert.equal(failureReason('content image a.png: not an image'), 'content image a.png: not an image');
  });

  it('a job taken up again removes only the temporary files of its own output, checkpoint and snapshots', () => {
    const dir = tempDir();
    const output = path.join(dir, 'out.png');
    const names = [
      '.out.png.tmp-123-0',
      `.${path.basename(checkpointPath(output))}.tmp-77-3`,
      '.out_000100.png.tmp-5-1', // a snapshot's
      '.other.png.tmp-123-0',
      '.outer.png.tmp-1-1',
      'out_000100.png',
      '.out.png.tmp-notes',
      'out.png',
      path.basename(checkpointPath(output)),
    ];
    for (const name of names) fs.writeFileSync(path.join(dir, name), '');
    removeStaleTemporaries(output);
    assert.deepEqual(fs.readdirSync(dir).sort(), names.slice(3).sort());
    fs.rmSync(dir, { recursive: true });
  });
});
