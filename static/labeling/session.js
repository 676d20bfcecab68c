/* On every page: logging out removes the labeler's drafts from this browser, so the next person to log in
 * on it sees none of them. */
import { clearAllDrafts } from "./drafts.js";

for (const form of document.querySelectorAll("form[data-logout]")) {
  form.addEventListener("submit", clearAllDrafts);
}
