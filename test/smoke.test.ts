import t from 'tap';
import { entryPath } from '../src/shared/entry.js';

t.test('entry points resolve to the sources under tsx', async (t) => {
  t.match(entryPath('supervisor'), /workers\/supervisor\.ts$/);
});
