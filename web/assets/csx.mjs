// The dashboard's only script: mark the page as script-capable (as the NHS.UK page template
// does inline; csx's content security policy allows no inline script) and start the NHS.UK
// components (header menu, error summary focus, radios and checkboxes). Every page works
// without it.
import { initAll } from './nhsuk-frontend.min.js'

document.body.classList.add('js-enabled')
if ('noModule' in HTMLScriptElement.prototype) {
  document.body.classList.add('nhsuk-frontend-supported')
}
initAll()
