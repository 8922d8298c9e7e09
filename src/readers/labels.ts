/** The label-name rule, for readers (it lives with the shared tables: checks of pickled values use it too). */
export { DEFAULT_LABEL_NAMES, isLabelName } from '../label-names.js';
