import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { html, Page, Status } from '../ui.js';

/** Sign-in with one of api.tokens: the API answers with an HttpOnly session cookie. */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api.post('/session', { token });
      setError('');
      onSignedIn();
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return html`<${Page} title="Sign in">
    <form class="card narrow" onSubmit=${submit}>
      <p>This camgate needs one of the API tokens from its configuration (<code>api.tokens</code>).</p>
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} />
      <button type="submit">Sign in</button>
      <${Status} message=${error} failed=${true} />
    </form>
  <//>`;
}
