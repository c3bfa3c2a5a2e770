// The console shell: sign-in, navigation (hash routes) and the page lifecycle.
import { getApiKey, request, setApiKey, setUnauthorizedHandler } from './api.js'
import { h, mount } from './dom.js'
import { errorBox } from './ui.js'
import * as overview from './pages/overview.js'
import * as authentication from './pages/authentication.js'
import * as policies from './pages/policies.js'
import * as authorizationSettings from './pages/authorization-settings.js'
import * as clients from './pages/clients.js'
import * as token from './pages/token.js'
import * as revocations from './pages/revocations.js'
import * as devices from './pages/devices.js'
import * as refusals from './pages/refusals.js'
import * as audit from './pages/audit.js'
import * as topics from './pages/topics.js'
import * as nodes from './pages/nodes.js'

/** @typedef {{ render(root: HTMLElement): (() => void) | void }} Page */
/** Routes with a `parent` are sub-pages: not in the navigation, which marks their parent. */
/** @type {Array<{ path: string, title: string, page: Page, parent?: string }>} */
const ROUTES = [
  { path: 'overview', title: 'Overview', page: overview },
  { path: 'authentication', title: 'Authentication', page: authentication },
  { path: 'authorization', title: 'Authorization', page: policies },
  { path: 'authorization/settings', title: 'Authorization settings', page: authorizationSettings, parent: 'authorization' },
  { path: 'clients', title: 'Clients', page: clients },
  { path: 'topics', title: 'Topics', page: topics },
  { path: 'nodes', title: 'Nodes', page: nodes },
  { path: 'token', title: 'Token checker', page: token },
  { path: 'devices', title: 'Devices', page: devices },
  { path: 'revocations', title: 'Revocations', page: revocations },
  { path: 'refusals', title: 'Refusals', page: refusals },
  { path: 'audit', title: 'Audit', page: audit },
]

const app = /** @type {HTMLElement} */ (document.getElementById('app'))
/** @type {(() => void) | void} */
let cleanup
let signedIn = false

function currentRoute() {
  const path = location.hash.replace(/^#\/?/, '').replace(/\/+$/, '')
  const top = path.split('/')[0] ?? ''
  return ROUTES.find((r) => r.path === path) ?? ROUTES.find((r) => r.path === top) ?? ROUTES[0]
}

function stopPage() {
  if (typeof cleanup === 'function') cleanup()
  cleanup = undefined
}

function renderSignIn(problem) {
  stopPage()
  signedIn = false
  const input = /** @type {HTMLInputElement} */ (h('input', { type: 'password', id: 'api-key', name: 'apiKey', autocomplete: 'current-password', required: true, autofocus: true }))
  const slot = h('div', { class: 'slot' }, problem ? errorBox(problem) : null)
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'primary' }, 'Sign in'))
  const form = h('form', {
    class: 'signin card',
    id: 'signin',
    onsubmit: async (/** @type {Event} */ ev) => {
      ev.preventDefault()
      const key = input.value.trim()
      if (key === '') {
        mount(slot, errorBox({ message: 'Enter the API key (admin.apiKey in the configuration).' }))
        return
      }
      button.disabled = true
      try {
        await request('GET', '/stats', undefined, { key, quiet401: true })
        setApiKey(key)
        signedIn = true
        renderShell()
      } catch (err) {
        mount(slot, errorBox(/** @type {{ status?: number, message?: string }} */ (err).status === 401 ? { message: `That API key was not accepted: ${/** @type {Error} */ (err).message}` } : err))
      } finally {
        button.disabled = false
      }
    },
  },
  h('div', { class: 'brand big' }, h('img', { src: '/console/icon.svg', alt: '', width: 36, height: 36 }), h('span', null, 'Portcullis')),
  h('h1', null, 'Sign in'),
  h('p', { class: 'muted' }, 'Use the admin API key. It is kept for this browser tab only.'),
  h('label', { for: 'api-key' }, 'API key'), input, slot, button)
  mount(app, h('main', { class: 'center' }, form))
}

function renderShell() {
  const nav = h('nav', { 'aria-label': 'Console' },
    ROUTES.filter((r) => r.parent === undefined).map((r) => h('a', { href: `#/${r.path}`, 'data-route': r.path }, r.title)))
  const main = h('main', { id: 'page' })
  const header = h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/overview' }, h('img', { src: '/console/icon.svg', alt: '', width: 24, height: 24 }), h('span', null, 'Portcullis')),
    nav,
    h('button', { type: 'button', class: 'link', id: 'signout', onclick: () => { setApiKey(null); renderSignIn() } }, 'Sign out'))
  const banner = h('div', { id: 'config-banner' })
  mount(app, header, banner, main)
  renderPage()
  void showConfigurationBanner(banner)
  void hideNodesAlone(nav)
}

/**
 * A broker that runs alone has no Nodes page in the navigation (the page, opened by its
 * address, explains why it is empty).
 * @param {HTMLElement} nav
 */
async function hideNodesAlone(nav) {
  if (!(await nodes.clustered())) nav.querySelector('a[data-route="nodes"]')?.remove()
}

/**
 * A banner when the configuration file differs from the stored configuration in use:
 * edits to the file would otherwise seem to be ignored without a word.
 * @param {HTMLElement} slot
 */
async function showConfigurationBanner(slot) {
  try {
    const c = /** @type {{ fileDiffers?: boolean, message?: string }} */ (await request('GET', '/configuration'))
    if (c.fileDiffers === true) {
      mount(slot, h('div', { class: 'alert warn', role: 'status', id: 'config-drift' }, h('strong', null, 'Configuration: '), String(c.message ?? 'the configuration file differs from the stored configuration in use')))
    }
  } catch {
    // The banner is a courtesy: the pages report errors themselves.
  }
}

function renderPage() {
  if (!signedIn) return
  stopPage()
  const route = currentRoute()
  for (const a of app.querySelectorAll('nav a')) a.toggleAttribute('aria-current', /** @type {HTMLElement} */ (a).dataset.route === (route.parent ?? route.path))
  document.title = `${route.title} · Portcullis`
  const main = /** @type {HTMLElement} */ (document.getElementById('page'))
  mount(main)
  main.dataset.page = route.path
  cleanup = route.page.render(main)
}

setUnauthorizedHandler(() => {
  setApiKey(null)
  renderSignIn({ message: 'The API key is no longer accepted; sign in again.' })
})
window.addEventListener('hashchange', renderPage)

async function start() {
  // A stored key (this tab), or an admin API without a key: go straight in.
  const key = getApiKey()
  try {
    await request('GET', '/stats', undefined, { key, quiet401: true })
    signedIn = true
    renderShell()
  } catch (err) {
    if (key !== null) setApiKey(null)
    renderSignIn(/** @type {{ status?: number }} */ (err).status === 401 ? undefined : err)
  }
}

void start()
