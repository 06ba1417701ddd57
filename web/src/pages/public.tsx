import { useState } from 'preact/hooks';
import { get, request } from '../lib/api.js';
import { cat, t, tk } from '../lib/i18n.js';
import { ErrorBox, Loading, useAction, useAsync, useDraft } from '../ui.js';

interface PublicFacility {
  communityName: string;
  facility: { name: string; category: string; location: string | null };
}

/** The form a facility's QR code opens: no login, phone-sized. */
export function PublicReportPage({ token }: { token: string }) {
  const info = useAsync(() => get<PublicFacility>(`/public/facilities/${encodeURIComponent(token)}`), [token]);
  const empty = { reporterName: '', reporterPhone: '', description: '' };
  const [form, setForm, clear] = useDraft(`qr.${token}`, empty);
  const { error, busy, run } = useAction();
  const [done, setDone] = useState<{ ref: number; status: string } | null>(null);

  if (info.loading) return <Loading />;
  if (info.error) return <ErrorBox error={info.error} />;
  const f = info.data as PublicFacility;
  if (done)
    return (
      <div class="card public-card" data-testid="qr-done">
        <h1>{t('qrThanks')}</h1>
        <p>{t('qrRef', { ref: done.ref, status: tk('st_', done.status) })}</p>
        <button type="button" onClick={() => setDone(null)}>
          {t('qrAnother')}
        </button>
      </div>
    );
  return (
    <form
      class="card public-card"
      onSubmit={async (e) => {
        e.preventDefault();
        await run(async () => {
          const r = await request<{ ref: number; status: string }>('POST', `/public/facilities/${encodeURIComponent(token)}/reports`, {
            body: { reporterName: form.reporterName.trim(), reporterPhone: form.reporterPhone.trim(), description: form.description.trim() },
            auth: false,
          });
          clear();
          setDone(r);
        });
      }}
    >
      <h1>{t('qrTitle')}</h1>
      <div class="facility-box">
        <strong data-testid="qr-facility">{f.facility.name}</strong>
        <div>
          {cat(f.facility.category)} · {f.facility.location ?? ''}
        </div>
        <div class="muted">{f.communityName}</div>
      </div>
      <p class="muted">{t('qrIntro')}</p>
      <label>
        {t('whatsWrong')}
        <textarea name="description" required rows={4} value={form.description} onInput={(e) => setForm({ ...form, description: (e.target as HTMLTextAreaElement).value })} />
      </label>
      <label>
        {t('yourName')}
        <input name="reporterName" required value={form.reporterName} onInput={(e) => setForm({ ...form, reporterName: (e.target as HTMLInputElement).value })} />
      </label>
      <label>
        {t('yourPhone')}
        <input name="reporterPhone" type="tel" required inputMode="tel" value={form.reporterPhone} onInput={(e) => setForm({ ...form, reporterPhone: (e.target as HTMLInputElement).value })} />
      </label>
      <ErrorBox error={error} />
      <button type="submit" class="primary big" disabled={busy}>
        {t('submit')}
      </button>
    </form>
  );
}
