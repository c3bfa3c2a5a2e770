// Authorization settings: what decides publish and subscribe when no rule matched (noMatch),
// the token claim that carries an ACL, and the superuser claim. Policies have their own page.
import { api, listOf } from '../api.js'
import { h, mount } from '../dom.js'
import { authorizationTabs, field, pageLoader, showError, showFieldMessages, showServerError, submitWhenValid, toast, whileBusy } from '../ui.js'
import { CLAIM_NAME_MAX, validateAuthorizationSettings } from '../validate.js'

/** @typedef {{ noMatch: 'allow' | 'deny', aclClaim: string, superuserClaim: string | null }} Settings */

/** @param {HTMLElement} root */
export function render(root) {
  const slot = h('div', { class: 'slot' })
  const body = h('div', { id: 'authorization-settings' }, h('p', { class: 'muted' }, 'Loading…'))
  const { load, stop } = pageLoader(slot, () => Promise.all([api.get('/authorization/settings'), api.get('/policies')]), ([settings, policies]) => {
    const allowPolicies = listOf(policies, 'policies').some((/** @type {any} */ p) =>
      p.effect === 'allow' && (p.actions ?? []).some((/** @type {string} */ a) => a === 'publish' || a === 'subscribe' || a === 'pub' || a === 'sub'))
    draw(/** @type {Settings} */ (settings), allowPolicies)
  })

  const draw = (/** @type {Settings} */ s, /** @type {boolean} */ allowPolicies) => {
    const errorSlot = h('div', { class: 'slot' })
    const touched = new Set()
    const radio = (/** @type {string} */ value, /** @type {string} */ label) =>
      h('label', null, h('input', { type: 'radio', name: 'noMatch', value, id: `f-noMatch-${value}`, checked: s.noMatch === value }), ` ${label}`)
    const group = h('div', { class: 'radios', role: 'radiogroup' }, radio('deny', 'deny (refuse)'), radio('allow', 'allow'))
    const noMatchField = field('noMatch', 'When nothing matched (noMatch)', group,
      { hint: 'Decides a publish or subscribe that neither the superuser claim, the token\'s ACL nor any policy matched. Connect is refused only by a matching deny rule.' })
    group.removeAttribute('name')
    group.id = 'f-noMatch'
    const form = h('form', { class: 'form card wide', id: 'authorization-settings-form', novalidate: true },
      noMatchField,
      field('aclClaim', 'ACL claim', h('input', { type: 'text', value: s.aclClaim, maxlength: CLAIM_NAME_MAX * 2, autocomplete: 'off', spellcheck: 'false', placeholder: 'acl' }),
        { hint: 'The top-level token claim that carries the client\'s ACL (a list of rules, or a pub/sub/all map). Default acl.' }),
      field('superuserClaim', 'Superuser claim', h('input', { type: 'text', value: s.superuserClaim ?? '', maxlength: CLAIM_NAME_MAX * 2, autocomplete: 'off', spellcheck: 'false', placeholder: 'none' }),
        { hint: 'Optional. A token whose claim of this name is literally true bypasses every rule. Leave empty for none.' }),
      errorSlot,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', id: 'undo-authorization-settings', onclick: () => draw(s, allowPolicies) }, 'Undo changes'),
        h('button', { type: 'submit', class: 'primary', id: 'save-authorization-settings' }, 'Save')))

    const input = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.querySelector(`[name="${name}"]`))
    const values = () => ({
      noMatch: /** @type {HTMLInputElement | null} */ (form.querySelector('[name="noMatch"]:checked'))?.value ?? '',
      aclClaim: input('aclClaim').value,
      superuserClaim: input('superuserClaim').value,
    })
    const sync = (all = false) => {
      const { errors, warnings } = validateAuthorizationSettings(values(), { allowPolicies })
      return showFieldMessages(form, errors, warnings, all ? undefined : touched)
    }
    submitWhenValid(form, touched, sync, async () => {
      const v = values()
      const button = /** @type {HTMLButtonElement} */ (form.querySelector('#save-authorization-settings'))
      await whileBusy(button, async () => {
        await api.put('/authorization/settings', { noMatch: v.noMatch, aclClaim: v.aclClaim, superuserClaim: v.superuserClaim === '' ? null : v.superuserClaim })
        toast('Authorization settings saved: they apply to new connections.')
        await load()
      }, (err) => showServerError(form, errorSlot, err))
    }, '.field.invalid input')
    mount(body, form)
    sync()
  }

  mount(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Authorization settings')),
    authorizationTabs('settings'),
    h('p', { class: 'muted' }, 'Rules are taken in this order: the superuser claim, then the token\'s ACL claim, then the policies by priority; the first that matches decides. Changes apply to new connections (and re-authentications); connected clients keep the rules they were admitted with.'),
    slot, body)
  void load()
  return stop
}
